// The embedded store: one SQLite file in WAL mode, its parts (sqlite-inbox.ts,
// sqlite-records.ts, sqlite-deliveries.ts, sqlite-sources.ts, sqlite-access.ts,
// sqlite-health.ts) on one connection; this file opens, migrates and closes it
// and makes accepted events durable. better-sqlite3 is synchronous, so every
// method runs its statements inside one transaction and returns a settled
// promise; there is one writer per process.
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { AccessStore } from '../access-store.js';
import type { DeliveryStore } from '../delivery-store.js';
import type { HealthStore } from '../health-store.js';
import type { InboxStore } from '../inbox-store.js';
import type { RecordStore } from '../record-store.js';
import type { SourceStore } from '../source-store.js';
import type { Store } from '../store.js';
import { Checkpointer } from './checkpointer.js';
import { MIGRATIONS } from './schema.js';
import { SqliteAccess } from './sqlite-access.js';
import { SqliteDeliveries } from './sqlite-deliveries.js';
import { SqliteHealth } from './sqlite-health.js';
import { SqliteInbox } from './sqlite-inbox.js';
import { SqliteRecords } from './sqlite-records.js';
import { SqliteSources } from './sqlite-sources.js';
import { Statements } from './statements.js';
import { emptyReport, makePrivateDir, makePrivateFile, tightenFile, type ModeReport } from '../../security/private-files.js';

export interface SqliteStoreOptions {
  /** File path, or `:memory:`. */
  path: string;
  /**
   * How accepting events commits. `full` fsyncs before the sender is answered, so an acknowledged
   * event survives power loss; `normal` survives a process crash but may lose the last commits
   * on power loss. Every other write (processing, deliveries) commits with `normal`: in WAL mode
   * the log is a prefix, so power loss can only roll those back to a state they are redone from
   * (events still queued, deliveries still pending), never past an acknowledged event.
   * @defaultValue 'full'
   */
  synchronous?: 'full' | 'normal';
  /**
   * Where WAL checkpoints run. `thread` copies committed pages back into the database file on a
   * thread of its own, so no commit stalls the event loop for it; `commit` leaves them to SQLite,
   * inside the commit that crosses 1,000 WAL pages. A file not in WAL mode always uses `commit`.
   * @defaultValue 'thread'
   */
  checkpoints?: 'thread' | 'commit';
  /** Told once if the checkpoint thread fails; checkpoints then run inside commits as SQLite's default does. */
  onCheckpointFailure?: (error: Error) => void;
  /** Told, when opening, of database files that others could read (now 0600) and of a data folder others can enter. */
  onLooseModes?: (report: ModeReport) => void;
}

/** Opens the database's WAL file to flush it, and flushes its directory once: the file is new since the database opened. */
async function openWal(path: string): Promise<FileHandle> {
  const wal = await open(`${path}-wal`, 'r');
  try {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } catch (error) {
      // Some platforms cannot flush a directory (EISDIR, EINVAL, EPERM): they persist entries with the file.
      if (!(error instanceof Error && 'code' in error && ['EISDIR', 'EINVAL', 'EPERM'].includes(String(error.code)))) throw error;
    } finally {
      await dir.close();
    }
    return wal;
  } catch (error) {
    await wal.close();
    throw error;
  }
}

type Parts = Pick<Store, 'inbox' | 'records' | 'deliveries' | 'sources' | 'access' | 'health'>;

export class SqliteStore implements Store {
  readonly driver = 'sqlite';
  readonly #db: Database.Database;
  readonly #options: Required<Omit<SqliteStoreOptions, 'onCheckpointFailure' | 'onLooseModes'>> & Pick<SqliteStoreOptions, 'onCheckpointFailure'>;
  /** The parts, made by `init` once the schema is there: they prepare their statements on it. */
  #parts: Parts | undefined;
  readonly #cached: Statements;
  /** The WAL file, open to flush accepted events (see `#acknowledged`). */
  #wal: Promise<FileHandle> | undefined;
  /** Whether the file is in WAL mode (known after init: a file system may refuse WAL). */
  #inWal = false;
  #checkpointer: Checkpointer | undefined;

  constructor(options: SqliteStoreOptions) {
    this.#options = { synchronous: 'full', checkpoints: 'thread', ...options };
    if (options.path !== ':memory:') {
      // The file exists, 0600, before SQLite opens it: SQLite gives its -wal and -shm files the database file's mode.
      const modes = emptyReport();
      makePrivateDir(dirname(options.path), modes);
      makePrivateFile(options.path, modes);
      for (const suffix of ['-wal', '-shm', '-journal']) tightenFile(`${options.path}${suffix}`, modes);
      if (modes.tightened.length + modes.openDirs.length > 0) options.onLooseModes?.(modes);
    }
    this.#db = new Database(options.path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    this.#cached = new Statements(this.#db);
  }

  async init(): Promise<void> {
    const db = this.#db;
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    db.transaction(() => {
      const current = (db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
      const known = MIGRATIONS.at(-1)?.version ?? 0;
      if (current > known) {
        throw new Error(`database schema is version ${current} but this Confluo knows only up to ${known}: upgrade Confluo`);
      }
      for (const migration of MIGRATIONS) {
        if (migration.version <= current) continue;
        db.exec(migration.sql);
        db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, Date.now());
      }
    }).immediate();
    this.#parts = {
      inbox: new SqliteInbox(db, (write) => this.#acknowledged(write)),
      records: new SqliteRecords(db),
      deliveries: new SqliteDeliveries(db),
      sources: new SqliteSources(db, (write) => this.#durably(write)),
      access: new SqliteAccess(db),
      health: new SqliteHealth(db),
    };
    this.#inWal = db.pragma('journal_mode', { simple: true }) === 'wal';
    // An in-memory database has no WAL (its journal mode is 'memory'), so no thread either.
    if (this.#options.checkpoints === 'thread' && this.#inWal && !this.#checkpointer) {
      this.#checkpointer = new Checkpointer(db, this.#options.path, this.#options.onCheckpointFailure ? { onFailure: this.#options.onCheckpointFailure } : {});
    }
  }

  /** Whether WAL checkpoints run on their own thread (see `checkpoints`). */
  get checkpointsOnThread(): boolean {
    return this.#checkpointer?.running ?? false;
  }

  async close(): Promise<void> {
    const checkpointer = this.#checkpointer;
    this.#checkpointer = undefined;
    await checkpointer?.stop();
    if (this.#db.open) this.#db.close();
    const wal = this.#wal;
    this.#wal = undefined;
    if (wal) await (await wal.catch(() => undefined))?.close();
  }

  get #ready(): Parts {
    if (!this.#parts) throw new Error('SqliteStore used before init()');
    return this.#parts;
  }

  get inbox(): InboxStore {
    return this.#ready.inbox;
  }
  get records(): RecordStore {
    return this.#ready.records;
  }
  get deliveries(): DeliveryStore {
    return this.#ready.deliveries;
  }
  get sources(): SourceStore {
    return this.#ready.sources;
  }
  get access(): AccessStore {
    return this.#ready.access;
  }
  get health(): HealthStore {
    return this.#ready.health;
  }

  /** Runs a write that acknowledges something to the outside with the accept path's durability. */
  #durably<T>(write: () => T): T {
    const durable = this.#options.synchronous === 'full';
    if (durable) this.#db.pragma('synchronous = FULL');
    try {
      return write();
    } finally {
      if (durable) this.#db.pragma('synchronous = NORMAL');
    }
  }

  /**
   * Runs a write that acknowledges events (`inbox.accept`) and, with `synchronous: 'full'`, makes
   * its commit durable before resolving. The commit itself runs with `synchronous=NORMAL` (its WAL
   * frames written, not yet flushed) and the flush is an fdatasync of the WAL file in libuv's
   * thread pool: the event loop goes on parsing and validating the next requests while the disk
   * works, where SQLite's own FULL commit held it for the whole fsync. A WAL commit is durable once
   * its frames are on disk, so an event is still answered only after it would survive power loss.
   */
  async #acknowledged<T>(write: () => T): Promise<T> {
    if (this.#options.synchronous !== 'full') return write();
    // Without a WAL (in memory, or a file system that refused WAL mode) SQLite's own FULL commit syncs.
    if (!this.#inWal) return this.#durably(write);
    const result = write();
    // Duplicates too: their first copy may be in a commit whose flush has not finished yet.
    await this.#flushWal();
    return result;
  }

  /** fdatasync of the WAL: every commit written so far reaches the disk (or a checkpoint already put it there). */
  async #flushWal(): Promise<void> {
    const wal = (this.#wal ??= openWal(this.#options.path));
    try {
      await (await wal).datasync();
    } catch (error) {
      // Open again next time rather than keep failing on a handle that went bad.
      if (this.#wal === wal) this.#wal = undefined;
      await (await wal.catch(() => undefined))?.close().catch(() => undefined);
      throw error;
    }
  }

  async stats(): Promise<{ queued: number; parkedKeys: number; records: number }> {
    const row = this.#cached
      .get(
        `SELECT (SELECT count(*) FROM inbox WHERE status = 'queued') AS queued,
                (SELECT count(*) FROM parked) AS parkedKeys,
                (SELECT count(*) FROM records) AS records`,
      )
      .get() as { queued: number; parkedKeys: number; records: number };
    return row;
  }
}
