// Picks the store driver from a database URL: `sqlite:<path>` (the default,
// embedded) or `postgres://…` / `postgresql://…` (shared by many processes).
// Opening migrates the schema, so every start brings the database up to date.
// A driver is imported when a store of its kind is opened, so importing
// `confluo` loads neither better-sqlite3 (native) nor pg.
import { resolve } from 'node:path';
import { ConfigError } from '../errors/index.js';
import type { ModeReport } from '../security/private-files.js';
import type { Store } from '../store/store.js';
import type { StoreLog } from '../store/postgres/index.js';

export function sqlitePath(url: string): string | undefined {
  if (!url.startsWith('sqlite:')) return undefined;
  const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
  return path === ':memory:' ? path : resolve(path);
}

export interface OpenStoreOptions {
  /** PostgreSQL: who holds this store's key claims; give the process's id so every lease it takes names it. */
  owner?: string;
  /** PostgreSQL: how long a claimed batch's keys stay with their worker (see `PostgresStoreOptions.claimLeaseMs`). */
  processLeaseMs?: number;
  /** SQLite: told once if the WAL checkpoint thread fails (see `SqliteStoreOptions.onCheckpointFailure`). */
  onCheckpointFailure?: (error: Error) => void;
  /** PostgreSQL: told of lost connections and of listening again (see `PostgresStoreOptions.log`). */
  log?: StoreLog;
  /** SQLite: told of database files others could read, now 0600 (see `SqliteStoreOptions.onLooseModes`). */
  onLooseModes?: (report: ModeReport) => void;
}

export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const path = sqlitePath(url);
  if (path !== undefined) {
    if (path.length === 0) throw new ConfigError(`database URL "${url}" names no file: use sqlite:./path/to/file.db`);
    const { SqliteStore } = await import('../store/sqlite/index.js');
    const { onCheckpointFailure, onLooseModes } = options;
    const store = new SqliteStore({ path, ...(onCheckpointFailure ? { onCheckpointFailure } : {}), ...(onLooseModes ? { onLooseModes } : {}) });
    await store.init();
    return store;
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { PostgresStore } = await import('../store/postgres/index.js');
    const store = new PostgresStore({ url, ...(options.owner !== undefined ? { owner: options.owner } : {}), ...(options.processLeaseMs !== undefined ? { claimLeaseMs: options.processLeaseMs } : {}), ...(options.log ? { log: options.log } : {}) });
    try {
      await store.init();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }
  throw new ConfigError(`database URL "${url}" is not one Confluo knows: use sqlite:<path> or postgres://user:password@host:port/database`);
}
