// Operator commands that read or fix the store directly (no running hub
// needed): credentials, parked keys, event traces. What they change is
// recorded as an operator action by `cli:<os user>`. Every operator command
// finds its database here, as `confluo start` finds it, and only `migrate`
// may create one.
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { maskUrl } from '../delivery/auth/index.js';
import { ConfigError } from '../errors/index.js';
import { findConfigFile, loadConfigFile, resolveDatabase, type ConfluoConfig } from '../hub/config.js';
import { readStoredCredentials } from '../hub/credentials.js';
import { openStore, sqlitePath } from '../hub/open-store.js';
import type { Store } from '../store/store.js';
import type { Json } from '../store/types.js';

export interface StoreFlags {
  db?: string;
  /** The config file whose `db` (and `dataDir`) to use. @defaultValue ./confluo.config.ts when there is one */
  config?: string;
}

/** Where a command's database is, and what named it (for messages). */
export interface Location {
  db: string;
  dataDir: string;
  namedBy: string;
  /** The SQLite file, when the database is one (not `:memory:`). */
  file: string | undefined;
  /** The config read, if any: one named with `--config` always, ./confluo.config.ts only when needed. */
  config: ConfluoConfig | undefined;
}

/**
 * Finds the database as `confluo start` does: `--db`, `CONFLUO_DB`, the config's `db`, the default.
 * An implicit ./confluo.config.ts is read only when the flags and environment leave the answer
 * open, so a config that fails to load never stands between an operator and `--db`.
 */
export async function locate(flags: StoreFlags, options: { dataDir?: boolean } = {}): Promise<Location> {
  const env = process.env;
  const open = (flags.db ?? env.CONFLUO_DB) === undefined || (options.dataDir === true && env.CONFLUO_DATA_DIR === undefined);
  const configPath = flags.config ?? (open ? findConfigFile(undefined) : undefined);
  const config = configPath === undefined ? undefined : await loadConfigFile(configPath);
  const { db, dataDir } = resolveDatabase(config ?? {}, env, flags);
  const namedBy =
    flags.db !== undefined ? '--db' : env.CONFLUO_DB !== undefined ? 'CONFLUO_DB' : config?.db !== undefined ? `the db of ${resolve(configPath as string)}` : 'the default';
  const path = sqlitePath(db);
  return { db, dataDir, namedBy, file: path === ':memory:' ? undefined : path, config };
}

/** Opens the command's database (see `withDatabase`), runs `run`, closes it. */
export async function withStore<T>(flags: StoreFlags, run: (store: Store, where: Location) => Promise<T>): Promise<T> {
  return withDatabase(await locate(flags), run);
}

/**
 * Opens the database at `where`, runs `run`, closes it. A SQLite file that does not exist is
 * refused (a mistyped path must not leave an empty database behind) unless `create` is set.
 */
export async function withDatabase<T>(where: Location, run: (store: Store, where: Location) => Promise<T>, options: { create?: boolean } = {}): Promise<T> {
  if (!options.create && where.file && !existsSync(where.file)) {
    throw new ConfigError(
      `no database at ${where.file} (named by ${where.namedBy}); this command does not create one: check the path, or create it with \`confluo migrate\` or \`confluo start\``,
    );
  }
  const store = await openStore(where.db);
  try {
    return await run(store, where);
  } finally {
    await store.close();
  }
}

/** Who the command line acts as: the operating-system user (a shell's $USER can say anything). */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return `cli:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

/** Records what a command did; `outcome` is `done` or why nothing happened. */
export function recordCliAction(store: Store, action: string, target: string, outcome: string, details: Json | null = null): Promise<void> {
  return store.access.recordAction({ at: Date.now(), actor: cliActor(), action, target, outcome, details });
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

export async function showCredentials(flags: StoreFlags & { dataDir?: string }): Promise<void> {
  const dataDir = flags.dataDir === undefined ? (await locate(flags, { dataDir: true })).dataDir : resolve(flags.dataDir);
  const stored = readStoredCredentials(dataDir);
  if (!stored) {
    process.stderr.write(`no stored credentials in ${dataDir}; \`confluo start\` generates them on first start\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`API key:      ${stored.apiKey}\nAdmin token:  ${stored.adminToken}\n`);
  if (process.env.CONFLUO_API_KEYS) process.stderr.write('note: CONFLUO_API_KEYS is set, so the running hub uses those keys instead of the stored one\n');
}

/** The one operator command that creates a missing SQLite file: making the schema is its job. */
export async function migrate(flags: StoreFlags): Promise<void> {
  const where = await locate(flags);
  const created = where.file !== undefined && !existsSync(where.file);
  // Opening a store applies the migrations it lacks (under a lock on PostgreSQL) and refuses a newer schema.
  await withDatabase(
    where,
    async (store) => {
      if (created) process.stdout.write(`created ${where.file} (named by ${where.namedBy})\n`);
      process.stdout.write(`${store.driver} database ${maskUrl(where.db)} is at the schema this Confluo knows\n`);
    },
    { create: true },
  );
}

export async function listParked(flags: StoreFlags): Promise<void> {
  await withStore(flags, async (store) => {
    const parked = await store.inbox.listParked();
    if (parked.length === 0) {
      process.stdout.write('no parked keys\n');
      return;
    }
    for (const p of parked) {
      process.stdout.write(`${p.entity}/${p.key}  event ${p.eventId}  ${p.waiting} waiting  since ${new Date(p.parkedAt).toISOString()}\n  ${p.error.code}: ${p.error.message}\n`);
    }
  });
}

export async function unpark(action: 'retry' | 'skip', entity: string, key: string, flags: StoreFlags): Promise<void> {
  await withStore(flags, async (store) => {
    if (action === 'retry') {
      const ok = await store.inbox.retryParked(entity, key);
      await recordCliAction(store, 'parked.retry', `${entity}/${key}`, ok ? 'done' : 'not parked');
      process.stdout.write(ok ? `${entity}/${key}: its parked event will run again\n` : `${entity}/${key} is not parked\n`);
      if (!ok) process.exitCode = 1;
      return;
    }
    const skipped = await store.inbox.skipParked(entity, key);
    await recordCliAction(store, 'parked.skip', `${entity}/${key}`, skipped ? 'done' : 'not parked');
    process.stdout.write(skipped ? `${entity}/${key}: skipped event ${skipped.skippedEventId}; the key flows again\n` : `${entity}/${key} is not parked\n`);
    if (!skipped) process.exitCode = 1;
  });
}

export async function showEvent(eventId: string, flags: StoreFlags): Promise<void> {
  await withStore(flags, async (store) => {
    const trace = await store.records.getEvent(eventId);
    if (!trace) {
      process.stderr.write(`no event with id ${eventId}\n`);
      process.exitCode = 1;
      return;
    }
    print(trace);
  });
}
