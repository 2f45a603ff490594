// The embedded store: one SQLite file in WAL mode. better-sqlite3 is
// synchronous, so every method runs its statements inside one transaction and
// returns a settled promise; there is one writer per process.
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StaleBatchError } from '../../errors/index.js';
import { encodeOptional } from '../json-columns.js';
import type { DeliveryStore } from '../delivery-store.js';
import { recordId, type ClaimedBatch, type Store } from '../store.js';
import type {
  AcceptOutcome,
  AuditEntry,
  AuditQuery,
  BatchCommit,
  EventStatus,
  EventTrace,
  FieldDiff,
  InboxEvent,
  NewInboxEvent,
  ParkedKey,
  StoredRecord,
} from '../types.js';
import { toAudit, toRecord, type AuditRow, type InboxRow, type RecordRow } from '../rows.js';
import { MIGRATIONS } from './schema.js';
import { insertDeliveryStatement, SqliteDeliveries } from './sqlite-deliveries.js';
import { SqliteSources } from './sqlite-sources.js';
import { SqliteAccess } from './sqlite-access.js';
import type { AccessStore } from '../access-store.js';
import type { SourceStore } from '../source-store.js';
import { Statements } from './statements.js';
import { Checkpointer } from './checkpointer.js';
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

/**
 * The claim reads each queued event joined with its key's record, as column arrays in this
 * order: one statement instead of a record lookup per key (7 µs each through better-sqlite3),
 * and no object keyed by column per row (microseconds more).
 */
const CLAIM_COLUMNS = `i.seq, i.event_id, i.name, i.version, i.flow_id, i.entity, i.key, i.envelope, i.status, i.accepted_at,
  r.version, r.parts, r.created_at, r.updated_at`;
const claimedEvent = (c: unknown[]): InboxEvent => ({
  seq: c[0] as number,
  eventId: c[1] as string,
  name: c[2] as string,
  version: c[3] as number,
  flowId: c[4] as string,
  entity: c[5] as string,
  key: c[6] as string,
  envelope: JSON.parse(c[7] as string) as Record<string, unknown>,
  status: c[8] as EventStatus,
  acceptedAt: c[9] as number,
});
/** The record in a claimed row, if its key has one. */
const claimedRecord = (c: unknown[]): StoredRecord | undefined =>
  c[10] === null
    ? undefined
    : { entity: c[5] as string, key: c[6] as string, version: c[10] as number, parts: JSON.parse(c[11] as string) as StoredRecord['parts'], createdAt: c[12] as number, updatedAt: c[13] as number };

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

export class SqliteStore implements Store {
  readonly driver = 'sqlite';
  readonly #db: Database.Database;
  readonly #options: Required<Omit<SqliteStoreOptions, 'onCheckpointFailure' | 'onLooseModes'>> & Pick<SqliteStoreOptions, 'onCheckpointFailure'>;
  #statements: ReturnType<SqliteStore['prepare']> | undefined;
  #deliveries: SqliteDeliveries | undefined;
  #sources: SqliteSources | undefined;
  #access: SqliteAccess | undefined;
  readonly #cached: Statements;
  /** The WAL file, open to flush accepted events (see `accept`). */
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
    this.#statements = this.prepare();
    this.#deliveries = new SqliteDeliveries(db);
    this.#sources = new SqliteSources(db, (write) => this.#durably(write));
    this.#access = new SqliteAccess(db);
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

  private prepare() {
    const db = this.#db;
    return {
      insertEvent: db.prepare(
        `INSERT INTO inbox (event_id, name, version, flow_id, entity, key, envelope, accepted_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
      ),
      claim: db
        .prepare(
          `SELECT ${CLAIM_COLUMNS} FROM inbox i LEFT JOIN records r ON r.entity = i.entity AND r.key = i.key
           WHERE i.status = 'queued' AND NOT EXISTS (SELECT 1 FROM parked p WHERE p.entity = i.entity AND p.key = i.key)
           ORDER BY i.seq LIMIT ?`,
        )
        .raw(true),
      getRecord: db.prepare('SELECT * FROM records WHERE entity = ? AND key = ?'),
      insertRecord: db.prepare(
        `INSERT INTO records (entity, key, version, parts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (entity, key) DO NOTHING`,
      ),
      updateRecord: db.prepare('UPDATE records SET version = ?, parts = ?, updated_at = ? WHERE entity = ? AND key = ? AND version = ?'),
      insertAudit: db.prepare(
        `INSERT INTO audit (entity, key, version, part, field, old_value, new_value, rule, event_id, flow_id, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertChange: db.prepare(
        `INSERT INTO changes (entity, key, version, event_id, flow_id, rule, changed_parts, diffs, record, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertDelivery: insertDeliveryStatement(db),
      insertDigestItem: db.prepare(
        'INSERT INTO digest_items (integration, window_start, entity, key, event_id, item, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      deliveriesOfEvent: db.prepare(
        'SELECT delivery_id, integration, status, attempts, total_attempts, last_error, last_status, created_at, completed_at FROM deliveries WHERE event_id = ? ORDER BY seq',
      ),
      markProcessed: db.prepare(`UPDATE inbox SET status = 'processed', processed_at = ?, result = ? WHERE seq = ? AND status = 'queued'`),
      markParked: db.prepare(`UPDATE inbox SET status = 'parked', error = ? WHERE event_id = ? AND status = 'queued'`),
      insertParked: db.prepare('INSERT INTO parked (entity, key, event_id, error, parked_at) VALUES (?, ?, ?, ?, ?)'),
      getParked: db.prepare('SELECT * FROM parked WHERE entity = ? AND key = ?'),
      deleteParked: db.prepare('DELETE FROM parked WHERE entity = ? AND key = ?'),
      requeue: db.prepare(`UPDATE inbox SET status = 'queued', error = NULL WHERE event_id = ? AND status = 'parked'`),
      skip: db.prepare(`UPDATE inbox SET status = 'skipped', processed_at = ? WHERE event_id = ? AND status = 'parked'`),
      getEvent: db.prepare('SELECT * FROM inbox WHERE event_id = ?'),
      changesOfEvent: db.prepare('SELECT version, rule, changed_parts, diffs, at FROM changes WHERE event_id = ? ORDER BY id'),
    };
  }

  private get out(): DeliveryStore {
    if (!this.#deliveries) throw new Error('SqliteStore used before init()');
    return this.#deliveries;
  }

  // The outbound half lives in sqlite-deliveries.ts, on the same connection.
  registerIntegrations: DeliveryStore['registerIntegrations'] = (...a) => this.out.registerIntegrations(...a);
  listIntegrations: DeliveryStore['listIntegrations'] = (...a) => this.out.listIntegrations(...a);
  setIntegrationState: DeliveryStore['setIntegrationState'] = (...a) => this.out.setIntegrationState(...a);
  claimDeliveries: DeliveryStore['claimDeliveries'] = (...a) => this.out.claimDeliveries(...a);
  settleAttempts: DeliveryStore['settleAttempts'] = (...a) => this.out.settleAttempts(...a);
  listDeliveries: DeliveryStore['listDeliveries'] = (...a) => this.out.listDeliveries(...a);
  getDelivery: DeliveryStore['getDelivery'] = (...a) => this.out.getDelivery(...a);
  retryDelivery: DeliveryStore['retryDelivery'] = (...a) => this.out.retryDelivery(...a);
  countReplayable: DeliveryStore['countReplayable'] = (...a) => this.out.countReplayable(...a);
  replayDeliveries: DeliveryStore['replayDeliveries'] = (...a) => this.out.replayDeliveries(...a);
  takeDigestWindow: DeliveryStore['takeDigestWindow'] = (...a) => this.out.takeDigestWindow(...a);
  commitDigest: DeliveryStore['commitDigest'] = (...a) => this.out.commitDigest(...a);

  private get pulls(): SourceStore {
    if (!this.#sources) throw new Error('SqliteStore used before init()');
    return this.#sources;
  }

  // Scheduled sources live in sqlite-sources.ts, on the same connection.
  registerSources: SourceStore['registerSources'] = (...a) => this.pulls.registerSources(...a);
  listSources: SourceStore['listSources'] = (...a) => this.pulls.listSources(...a);
  getSource: SourceStore['getSource'] = (...a) => this.pulls.getSource(...a);
  setSourceNextRun: SourceStore['setSourceNextRun'] = (...a) => this.pulls.setSourceNextRun(...a);
  startSourceRun: SourceStore['startSourceRun'] = (...a) => this.pulls.startSourceRun(...a);
  commitSourcePage: SourceStore['commitSourcePage'] = (...a) => this.pulls.commitSourcePage(...a);
  renewSourceLease: SourceStore['renewSourceLease'] = (...a) => this.pulls.renewSourceLease(...a);
  finishSourceRun: SourceStore['finishSourceRun'] = (...a) => this.pulls.finishSourceRun(...a);
  getSourceRun: SourceStore['getSourceRun'] = (...a) => this.pulls.getSourceRun(...a);
  listSourceRuns: SourceStore['listSourceRuns'] = (...a) => this.pulls.listSourceRuns(...a);
  listRejected: SourceStore['listRejected'] = (...a) => this.pulls.listRejected(...a);
  resetSourceCheckpoint: SourceStore['resetSourceCheckpoint'] = (...a) => this.pulls.resetSourceCheckpoint(...a);

  private get access(): AccessStore {
    if (!this.#access) throw new Error('SqliteStore used before init()');
    return this.#access;
  }

  // Keys and operator actions live in sqlite-access.ts, on the same connection.
  createKey: AccessStore['createKey'] = (...a) => this.access.createKey(...a);
  findKey: AccessStore['findKey'] = (...a) => this.access.findKey(...a);
  listKeys: AccessStore['listKeys'] = (...a) => this.access.listKeys(...a);
  revokeKey: AccessStore['revokeKey'] = (...a) => this.access.revokeKey(...a);
  touchKey: AccessStore['touchKey'] = (...a) => this.access.touchKey(...a);
  recordAction: AccessStore['recordAction'] = (...a) => this.access.recordAction(...a);
  listActions: AccessStore['listActions'] = (...a) => this.access.listActions(...a);

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

  private get sql() {
    if (!this.#statements) throw new Error('SqliteStore used before init()');
    return this.#statements;
  }

  /**
   * Commits the events, then, with `synchronous: 'full'`, makes the commit durable before
   * resolving. The commit itself runs with `synchronous=NORMAL` (its WAL frames written, not
   * yet flushed) and the flush is an fdatasync of the WAL file in libuv's thread pool: the
   * event loop goes on parsing and validating the next requests while the disk works, where
   * SQLite's own FULL commit held it for the whole fsync. A WAL commit is durable once its
   * frames are on disk, so an event is still answered only after it would survive power loss.
   */
  async accept(events: NewInboxEvent[]): Promise<AcceptOutcome[]> {
    const sql = this.sql;
    if (this.#options.synchronous !== 'full') return this.#acceptAll(sql, events);
    // Without a WAL (in memory, or a file system that refused WAL mode) SQLite's own FULL commit syncs.
    if (!this.#inWal) return this.#durably(() => this.#acceptAll(sql, events));
    const outcomes = this.#acceptAll(sql, events);
    // Duplicates too: their first copy may be in a commit whose flush has not finished yet.
    await this.#flushWal();
    return outcomes;
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

  #acceptAll(sql: ReturnType<SqliteStore['prepare']>, events: NewInboxEvent[]): AcceptOutcome[] {
    return this.#db.transaction(() =>
      events.map((e): AcceptOutcome => {
        const info = sql.insertEvent.run(e.eventId, e.name, e.version, e.flowId, e.entity, e.key, JSON.stringify(e.envelope), e.acceptedAt);
        return info.changes === 1 ? { status: 'accepted', seq: Number(info.lastInsertRowid) } : { status: 'duplicate' };
      }),
    ).immediate();
  }

  async claimBatch(limit: number): Promise<ClaimedBatch> {
    const sql = this.sql;
    return this.#db.transaction(() => {
      const rows = sql.claim.all(limit) as unknown[][];
      const events: InboxEvent[] = [];
      const records = new Map<string, StoredRecord>();
      for (const row of rows) {
        const event = claimedEvent(row);
        events.push(event);
        const id = recordId(event.entity, event.key);
        if (records.has(id)) continue;
        const record = claimedRecord(row);
        if (record) records.set(id, record);
      }
      return { events, records };
    }).deferred();
  }

  async commitBatch(batch: BatchCommit): Promise<void> {
    const sql = this.sql;
    this.#db.transaction(() => {
      for (const { record, expectedVersion } of batch.records) {
        const parts = JSON.stringify(record.parts);
        const info =
          expectedVersion === 0
            ? sql.insertRecord.run(record.entity, record.key, record.version, parts, record.createdAt, record.updatedAt)
            : sql.updateRecord.run(record.version, parts, record.updatedAt, record.entity, record.key, expectedVersion);
        if (info.changes !== 1) throw new StaleBatchError(`record ${record.entity}/${record.key} moved past version ${expectedVersion}`);
      }
      for (const a of batch.audit) {
        sql.insertAudit.run(a.entity, a.key, a.version, a.part, a.field, encodeOptional(a.oldValue), encodeOptional(a.newValue), a.rule, a.eventId, a.flowId, a.at);
      }
      for (const c of batch.changes) {
        sql.insertChange.run(c.entity, c.key, c.version, c.eventId, c.flowId, c.rule, JSON.stringify(c.changedParts), JSON.stringify(c.diffs), JSON.stringify(c.record), c.at);
      }
      for (const d of batch.deliveries) sql.insertDelivery(d);
      for (const i of batch.digestItems) {
        sql.insertDigestItem.run(i.integration, i.windowStart, i.entity, i.key, i.eventId, JSON.stringify(i.item), i.createdAt);
      }
      for (const p of batch.processed) {
        if (sql.markProcessed.run(p.at, JSON.stringify(p.result), p.seq).changes !== 1) {
          throw new StaleBatchError(`event ${p.eventId} is no longer queued`);
        }
      }
      for (const p of batch.parked) {
        if (sql.markParked.run(JSON.stringify(p.error), p.eventId).changes !== 1) throw new StaleBatchError(`event ${p.eventId} is no longer queued`);
        sql.insertParked.run(p.entity, p.key, p.eventId, JSON.stringify(p.error), p.parkedAt);
      }
    }).immediate();
  }

  async getRecord(entity: string, key: string): Promise<StoredRecord | undefined> {
    const row = this.sql.getRecord.get(entity, key) as RecordRow | undefined;
    return row && toRecord(row);
  }

  async listAudit(entity: string, key: string, query: AuditQuery): Promise<AuditEntry[]> {
    const rows = this.#cached
      .get(
        `SELECT * FROM audit WHERE entity = ? AND key = ? AND id > ? ${query.until === undefined ? '' : 'AND at <= ?'}
         ORDER BY id LIMIT ?`,
      )
      .all(...[entity, key, query.after ?? 0, ...(query.until === undefined ? [] : [query.until]), query.limit]) as AuditRow[];
    return rows.map(toAudit);
  }

  async getEvent(eventId: string): Promise<EventTrace | undefined> {
    const row = this.sql.getEvent.get(eventId) as InboxRow | undefined;
    if (!row) return undefined;
    const changes = (this.sql.changesOfEvent.all(eventId) as Array<{ version: number; rule: string; changed_parts: string; diffs: string; at: number }>).map(
      (c) => ({ version: c.version, rule: c.rule, changedParts: JSON.parse(c.changed_parts) as string[], diffs: JSON.parse(c.diffs) as FieldDiff[], at: c.at }),
    );
    return {
      eventId: row.event_id,
      name: row.name,
      version: row.version,
      flowId: row.flow_id,
      entity: row.entity,
      key: row.key,
      status: row.status,
      acceptedAt: row.accepted_at,
      processedAt: row.processed_at,
      result: row.result === null ? null : (JSON.parse(row.result) as EventTrace['result']),
      error: row.error === null ? null : (JSON.parse(row.error) as EventTrace['error']),
      changes,
      deliveries: (this.sql.deliveriesOfEvent.all(eventId) as Array<Record<string, unknown>>).map((d) => ({
        deliveryId: d.delivery_id as string,
        integration: d.integration as string,
        status: d.status as EventTrace['deliveries'][number]['status'],
        attempts: d.attempts as number,
        totalAttempts: d.total_attempts as number,
        lastError: d.last_error as string | null,
        lastStatus: d.last_status as number | null,
        createdAt: d.created_at as number,
        completedAt: d.completed_at as number | null,
      })),
    };
  }

  async listParked(): Promise<ParkedKey[]> {
    // Waiting = the parked event plus the key's queued events. The queued ones
    // are counted in one pass over the inbox_queued index (there is no by-key
    // index on the inbox: it cost bulk ingest half its rate), grouped by key.
    const rows = this.#cached
      .get(
        `WITH queued AS (
           SELECT i.entity, i.key, count(*) AS n FROM inbox i
           WHERE i.status = 'queued' AND EXISTS (SELECT 1 FROM parked q WHERE q.entity = i.entity AND q.key = i.key)
           GROUP BY i.entity, i.key)
         SELECT p.*, coalesce(w.n, 0) + (SELECT count(*) FROM inbox e WHERE e.event_id = p.event_id AND e.status = 'parked') AS waiting
         FROM parked p LEFT JOIN queued w ON w.entity = p.entity AND w.key = p.key
         ORDER BY p.parked_at, p.entity, p.key`,
      )
      .all() as Array<{ entity: string; key: string; event_id: string; error: string; parked_at: number; waiting: number }>;
    return rows.map((r) => ({ entity: r.entity, key: r.key, eventId: r.event_id, error: JSON.parse(r.error) as ParkedKey['error'], parkedAt: r.parked_at, waiting: r.waiting }));
  }

  async retryParked(entity: string, key: string): Promise<boolean> {
    const sql = this.sql;
    return this.#db.transaction(() => {
      const parked = sql.getParked.get(entity, key) as { event_id: string } | undefined;
      if (!parked) return false;
      sql.requeue.run(parked.event_id);
      sql.deleteParked.run(entity, key);
      return true;
    }).immediate();
  }

  async skipParked(entity: string, key: string): Promise<{ skippedEventId: string } | undefined> {
    const sql = this.sql;
    return this.#db.transaction(() => {
      const parked = sql.getParked.get(entity, key) as { event_id: string } | undefined;
      if (!parked) return undefined;
      sql.skip.run(Date.now(), parked.event_id);
      sql.deleteParked.run(entity, key);
      return { skippedEventId: parked.event_id };
    }).immediate();
  }

  async queued(): Promise<number> {
    return (this.#cached.get("SELECT count(*) AS n FROM inbox WHERE status = 'queued'").get() as { n: number }).n;
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
