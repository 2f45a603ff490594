// PostgreSQL for the benchmarks: the server (CONFLUO_BENCH_DATABASE_URL, else
// the local one on 127.0.0.1:5432 if it answers, else a throwaway embedded
// one), a fresh database per measurement, and hub processes pointed at one.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../test/support/postgres-global-setup.js';
import { ADMIN_TOKEN, API_KEY, startChild, type Child } from './child.js';

const LOCAL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchPostgres {
  /** Admin URL of the server (its `postgres` database). */
  url: string;
  /** For row labels: `PostgreSQL 15.20`, and `embedded` when this run started it. */
  label: string;
  /** Durability settings that change what a commit costs, for the rows' notes. */
  settings: string;
  stop(): Promise<void>;
}

export async function benchPostgres(): Promise<BenchPostgres> {
  const configured = process.env.CONFLUO_BENCH_DATABASE_URL;
  if (configured) return describe(configured, 'configured', async () => undefined);
  if (await answers(LOCAL)) return describe(LOCAL, 'local', async () => undefined);
  const embedded = await startEmbeddedPostgres();
  try {
    return await describe(embedded.url, 'embedded', embedded.stop);
  } catch (error) {
    await embedded.stop();
    throw error;
  }
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function describe(url: string, origin: 'configured' | 'local' | 'embedded', stop: () => Promise<void>): Promise<BenchPostgres> {
  const { rows } = await admin(url, `SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sync`);
  const row = rows[0] as { version: string; fsync: string; sync: string };
  const version = row.version.split(' ')[0];
  const host = new URL(url).host;
  return {
    url,
    label: `PostgreSQL ${version}${origin === 'embedded' ? ' embedded' : ''}`,
    settings: `PostgreSQL ${row.version} at ${host} (${origin}), fsync ${row.fsync}, synchronous_commit ${row.sync}`,
    stop,
  };
}

async function admin(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

export interface BenchDatabase {
  name: string;
  /** The server URL with this database in its path. */
  url: string;
  drop(): Promise<void>;
}

/** A new database, empty or (`template`) a copy of one nobody is connected to. */
export async function createDatabase(server: BenchPostgres, prefix: string, template?: string): Promise<BenchDatabase> {
  const name = `confluo_bench_${prefix}_${randomBytes(4).toString('hex')}`;
  await admin(server.url, `CREATE DATABASE ${pg.escapeIdentifier(name)}${template ? ` TEMPLATE ${pg.escapeIdentifier(template)}` : ''}`);
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    // WITH (FORCE) (PostgreSQL 13+) ends the connections of a hub that did not stop cleanly.
    drop: () => admin(server.url, `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`).then(() => undefined),
  };
}

export interface PostgresHubOptions {
  db: string;
  /** `all`, or roles such as `process` (see `confluo start --role`). */
  role: string;
  /** Where the hub would keep generated credentials; the bench passes its own, so nothing is written. */
  dataDir: string;
  env?: NodeJS.ProcessEnv;
  nodeArgs?: string[];
}

/** The customer-sync example as `confluo start` runs it, on a PostgreSQL database, in the given roles. */
export function startPostgresHub(options: PostgresHubOptions): Promise<Child> {
  return startChild(
    [...(options.nodeArgs ?? []), 'bin/confluo.mjs', 'start', '--config', 'examples/customer-sync/confluo.config.ts', '--port', '0', '--role', options.role, '--db', options.db],
    {
      CONFLUO_API_KEYS: API_KEY,
      CONFLUO_ADMIN_TOKEN: ADMIN_TOKEN,
      CONFLUO_LOG_LEVEL: 'info',
      CONFLUO_DATA_DIR: options.dataDir,
      SLACK_WEBHOOK_URL: '',
      ...options.env,
    },
  );
}
