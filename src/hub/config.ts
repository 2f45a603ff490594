// The configuration of a hub: a TypeScript file (`confluo.config.ts`) that
// names the flow, overridden by environment variables, overridden by CLI
// flags. Defaults are merged here and nowhere else.
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import { parseDuration } from '../delivery/duration.js';
import type { Integration } from '../delivery/integration.js';
import type { Monitor } from '../health/monitor.js';
import type { Flow } from '../flow/flow.js';
import { outboundSchema } from '../security/outbound-policy.js';
import type { Source } from '../sources/source.js';
import { describeIssues } from '../validation/field-issues.js';
import { sqlitePath } from './open-store.js';

const flowSchema = z.custom<Flow>(
  (value) => value !== null && typeof value === 'object' && (value as Flow).events instanceof Map && (value as Flow).rules instanceof Map,
  { message: 'must be a flow made with defineFlow()' },
);

const integrationSchema = z.custom<Integration>(
  (value) => value !== null && typeof value === 'object' && typeof (value as Integration).name === 'string' && typeof (value as Integration).map === 'function',
  { message: 'must be an integration made with defineIntegration()' },
);

const monitorSchema = z.custom<Monitor>(
  (value) => value !== null && typeof value === 'object' && typeof (value as Monitor).name === 'string' && ((value as Monitor).kind === 'http' || (value as Monitor).kind === 'push'),
  { message: 'must be a monitor made with defineMonitor()' },
);

const sourceSchema = z.custom<Source>(
  (value) => value !== null && typeof value === 'object' && typeof (value as Source).name === 'string' && typeof (value as Source).driver?.pull === 'function',
  { message: 'must be a source made with defineSource()' },
);

export const configSchema = z.object({
  flow: flowSchema,
  /** Where changes and events go out. @defaultValue none */
  integrations: z.array(integrationSchema).optional(),
  /** Systems to fetch from on a schedule. @defaultValue none */
  sources: z.array(sourceSchema).optional(),
  /** Outside services watched: called on a schedule (http) or beating on their own (push). @defaultValue none */
  monitors: z.array(monitorSchema).optional(),
  /** How often each process beats, with the state of its loops. @defaultValue 1000 (`CONFLUO_HEARTBEAT_INTERVAL_MS`) */
  heartbeatIntervalMs: z.number().int().min(100).max(60_000).optional(),
  /** Beats a process may miss before it is down and its work moves to the others. @defaultValue 3 (`CONFLUO_MISSED_BEATS`) */
  missedBeats: z.number().int().min(2).max(100).optional(),
  /** @defaultValue 8080 (`CONFLUO_PORT`) */
  port: z.number().int().min(0).max(65535).optional(),
  /** @defaultValue '127.0.0.1' (`CONFLUO_HOST`) */
  host: z.string().min(1).optional(),
  /** @defaultValue 'sqlite:./.confluo/confluo.db' (`CONFLUO_DB`) */
  db: z.string().min(1).optional(),
  /** Where generated credentials are kept. @defaultValue the SQLite file's folder, else ./.confluo (`CONFLUO_DATA_DIR`) */
  dataDir: z.string().min(1).optional(),
  /** @defaultValue 'info' (`CONFLUO_LOG_LEVEL`) */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  processor: z
    .object({
      /** @defaultValue 1000 */
      batchSize: z.number().int().min(1).max(10_000).optional(),
      /** @defaultValue 250 */
      idlePollMs: z.number().int().min(1).optional(),
      /** PostgreSQL: how long a claimed batch's keys stay with a worker that stopped answering before another takes them over. @defaultValue 30000 (`CONFLUO_PROCESS_LEASE_MS`) */
      leaseMs: z.number().int().min(100).optional(),
    })
    .optional(),
  delivery: z
    .object({
      /** How long a claimed delivery belongs to this process before another may take it (a crash frees it after this). @defaultValue 60000 (`CONFLUO_DELIVERY_LEASE_MS`) */
      leaseMs: z.number().int().min(100).optional(),
      /** @defaultValue 200 */
      pollMs: z.number().int().min(1).optional(),
    })
    .optional(),
  sourceRunner: z
    .object({
      /** How long a run holds its source without progress before another process may take over. @defaultValue 60000 (`CONFLUO_SOURCE_LEASE_MS`) */
      leaseMs: z.number().int().min(100).optional(),
      /** @defaultValue 1000 */
      pollMs: z.number().int().min(1).optional(),
    })
    .optional(),
  ingest: z
    .object({
      /** @defaultValue 10000 */
      waitTimeoutMs: z.number().int().min(0).optional(),
      /** Most events waiting to be applied; past it new events are refused with `:error` OVERLOADED and `retryAfterMs`, nothing stored. @defaultValue none (`CONFLUO_MAX_BACKLOG`) */
      maxBacklog: z.number().int().min(1).optional(),
    })
    .optional(),
  /**
   * Where integrations (REST, Slack) and sources (http-poll) may connect, for those not given
   * their own `outbound`; judged on every address a host resolves to.
   * @defaultValue link-local, metadata and unspecified addresses and private ranges refused, loopback allowed
   * @see outboundSchema for each option
   */
  outbound: outboundSchema.optional(),
});

export type ConfluoConfig = z.input<typeof configSchema>;

/** What a setting is when neither a flag, the environment nor the config file names it. */
export const DEFAULTS = {
  configFile: 'confluo.config.ts',
  db: 'sqlite:./.confluo/confluo.db',
  port: 8080,
  host: '127.0.0.1',
  logLevel: 'info',
  role: 'all',
  heartbeatIntervalMs: 1000,
  missedBeats: 3,
  deadMansSwitchIntervalMs: 60_000,
} as const;

export function defineConfig(config: ConfluoConfig): ConfluoConfig {
  return config;
}

export interface Settings {
  /** What this process does: take events in (HTTP API), apply rules, send deliveries, run sources on schedule. */
  roles: ReadonlySet<Exclude<Role, 'all'>>;
  flow: Flow;
  integrations: Integration[];
  sources: Source[];
  port: number;
  host: string;
  db: string;
  dataDir: string;
  logLevel: NonNullable<ConfluoConfig['logLevel']>;
  apiKeys: string | undefined;
  adminToken: string | undefined;
  /** Serve `GET /metrics` (`CONFLUO_METRICS=off` turns it off, and every counter with it). */
  metrics: boolean;
  /** A token that may read `/metrics`, beside admin keys (`CONFLUO_METRICS_TOKEN`). */
  metricsToken: string | undefined;
  processor: NonNullable<ConfluoConfig['processor']>;
  ingest: NonNullable<ConfluoConfig['ingest']>;
  delivery: NonNullable<ConfluoConfig['delivery']>;
  sourceRunner: NonNullable<ConfluoConfig['sourceRunner']>;
  outbound: ConfluoConfig['outbound'];
  monitors: Monitor[];
  heartbeat: {
    intervalMs: number;
    missedBeats: number;
    /** Called every `deadMansSwitchIntervalMs` while this process's loops are healthy (`CONFLUO_HEARTBEAT_URL`). */
    deadMansSwitchUrl: string | undefined;
    deadMansSwitchIntervalMs: number;
  };
}

export const ROLES = ['all', 'ingest', 'process', 'deliver', 'pull'] as const;
export type Role = (typeof ROLES)[number];

export interface Flags {
  role?: string;
  port?: string;
  host?: string;
  db?: string;
}

/** The config file a command reads: the one named, else ./confluo.config.ts when there is one. */
export function findConfigFile(named: string | undefined): string | undefined {
  return named ?? (existsSync(DEFAULTS.configFile) ? DEFAULTS.configFile : undefined);
}

/** Checks that `value` is a config and returns that same value; `must` starts the error, e.g. "config file x must export default". */
export function checkConfig(value: unknown, must: string): ConfluoConfig {
  const parsed = configSchema.safeParse(value);
  if (!parsed.success) {
    const fields = describeIssues(parsed.error.issues).map((f) => `${f.name}: ${f.message}`);
    throw new ConfigError(`${must} defineConfig({ flow, … }): ${fields.join('; ')}`);
  }
  return value as ConfluoConfig;
}

export async function loadConfigFile(path: string): Promise<ConfluoConfig> {
  const file = resolve(path);
  if (!existsSync(file)) throw new ConfigError(`config file ${file} does not exist`);
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(file).href)) as typeof module;
  } catch (error) {
    const message = (error as Error).message;
    // Outside a `"type": "module"` package a .ts file is read as CommonJS, which an ESM config cannot be.
    const hint = /require\(\) ES Module|ERR_REQUIRE_ESM|Cannot use import statement/.test(message)
      ? ' (hint: name it confluo.config.mts, or add "type": "module" to the package.json beside it)'
      : '';
    throw new ConfigError(`config file ${file} failed to load: ${message}${hint}`, { cause: error });
  }
  if (module.default === undefined) throw new ConfigError(`config file ${file} has no default export: export default defineConfig({ flow, … })`);
  return checkConfig(module.default, `config file ${file} must export default`);
}

function integer(name: string, text: string | undefined, max = 65535, what = 'a port number', min = 0): number | undefined {
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`${name} must be ${what}, got "${text}"`);
  return value;
}

export function parseRoles(text: string): Settings['roles'] {
  const names = text.split(',').map((r) => r.trim()).filter(Boolean);
  const unknown = names.filter((r) => !(ROLES as readonly string[]).includes(r));
  if (names.length === 0 || unknown.length > 0) throw new ConfigError(`--role takes ${ROLES.join(', ')} (comma-separated), got "${text}"`);
  return new Set(names.includes('all') ? (['ingest', 'process', 'deliver', 'pull'] as const) : (names as Array<Exclude<Role, 'all'>>));
}

/**
 * The database and the data folder: `--db`, else `CONFLUO_DB`, else the config's `db`, else the
 * default file; credentials beside a SQLite file unless `CONFLUO_DATA_DIR` or the config's `dataDir`
 * says otherwise. `confluo start` and every operator command find them here.
 */
export function resolveDatabase(config: Pick<ConfluoConfig, 'db' | 'dataDir'>, env: NodeJS.ProcessEnv, flags: Pick<Flags, 'db'> = {}): { db: string; dataDir: string } {
  const db = flags.db ?? env.CONFLUO_DB ?? config.db ?? DEFAULTS.db;
  const sqliteFile = sqlitePath(db);
  const defaultDataDir = sqliteFile && sqliteFile !== ':memory:' ? dirname(sqliteFile) : resolve('.confluo');
  return { db, dataDir: resolve(env.CONFLUO_DATA_DIR ?? config.dataDir ?? defaultDataDir) };
}

export function resolveSettings(config: ConfluoConfig, env: NodeJS.ProcessEnv, flags: Flags = {}): Settings {
  const { db, dataDir } = resolveDatabase(config, env, flags);
  const logLevel = env.CONFLUO_LOG_LEVEL ?? config.logLevel ?? DEFAULTS.logLevel;
  const level = configSchema.shape.logLevel.safeParse(logLevel);
  if (!level.success || level.data === undefined) throw new ConfigError(`CONFLUO_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; got "${logLevel}"`);
  return {
    roles: parseRoles(flags.role ?? env.CONFLUO_ROLE ?? DEFAULTS.role),
    flow: config.flow,
    integrations: config.integrations ?? [],
    sources: config.sources ?? [],
    port: integer('--port', flags.port) ?? integer('CONFLUO_PORT', env.CONFLUO_PORT) ?? config.port ?? DEFAULTS.port,
    host: flags.host ?? env.CONFLUO_HOST ?? config.host ?? DEFAULTS.host,
    db,
    dataDir,
    logLevel: level.data,
    apiKeys: env.CONFLUO_API_KEYS,
    adminToken: env.CONFLUO_ADMIN_TOKEN,
    metrics: onOff('CONFLUO_METRICS', env.CONFLUO_METRICS) ?? true,
    metricsToken: env.CONFLUO_METRICS_TOKEN || undefined,
    processor: {
      ...config.processor,
      ...(env.CONFLUO_PROCESS_LEASE_MS ? { leaseMs: integer('CONFLUO_PROCESS_LEASE_MS', env.CONFLUO_PROCESS_LEASE_MS, 86_400_000, 'milliseconds') } : {}),
    },
    ingest: {
      ...config.ingest,
      ...(env.CONFLUO_MAX_BACKLOG ? { maxBacklog: integer('CONFLUO_MAX_BACKLOG', env.CONFLUO_MAX_BACKLOG, 1_000_000_000, 'a number of events from 1', 1) } : {}),
    },
    delivery: {
      ...config.delivery,
      ...(env.CONFLUO_DELIVERY_LEASE_MS ? { leaseMs: integer('CONFLUO_DELIVERY_LEASE_MS', env.CONFLUO_DELIVERY_LEASE_MS, 86_400_000, 'milliseconds') } : {}),
    },
    sourceRunner: {
      ...config.sourceRunner,
      ...(env.CONFLUO_SOURCE_LEASE_MS ? { leaseMs: integer('CONFLUO_SOURCE_LEASE_MS', env.CONFLUO_SOURCE_LEASE_MS, 86_400_000, 'milliseconds') } : {}),
    },
    outbound: config.outbound,
    monitors: config.monitors ?? [],
    heartbeat: {
      intervalMs: integer('CONFLUO_HEARTBEAT_INTERVAL_MS', env.CONFLUO_HEARTBEAT_INTERVAL_MS, 60_000, 'milliseconds from 100', 100) ?? config.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs,
      missedBeats: integer('CONFLUO_MISSED_BEATS', env.CONFLUO_MISSED_BEATS, 100, 'a number of beats from 2', 2) ?? config.missedBeats ?? DEFAULTS.missedBeats,
      deadMansSwitchUrl: deadMansSwitchUrl(env.CONFLUO_HEARTBEAT_URL),
      deadMansSwitchIntervalMs: env.CONFLUO_HEARTBEAT_INTERVAL ? atLeastOneSecond('CONFLUO_HEARTBEAT_INTERVAL', env.CONFLUO_HEARTBEAT_INTERVAL) : DEFAULTS.deadMansSwitchIntervalMs,
    },
  };
}

function onOff(name: string, text: string | undefined): boolean | undefined {
  if (text === undefined || text === '') return undefined;
  if (/^(on|true|1)$/i.test(text)) return true;
  if (/^(off|false|0)$/i.test(text)) return false;
  throw new ConfigError(`${name} must be on or off, got "${text}"`);
}

function deadMansSwitchUrl(text: string | undefined): string | undefined {
  if (text === undefined || text === '') return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`CONFLUO_HEARTBEAT_URL must be an http(s) URL, got "${text}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`CONFLUO_HEARTBEAT_URL must be an http(s) URL, got "${url.protocol}"`);
  return url.href;
}

function atLeastOneSecond(name: string, text: string): number {
  const ms = parseDuration(text);
  if (ms < 1000) throw new ConfigError(`${name} must be at least 1s, got "${text}"`);
  return ms;
}
