// The shared store: any number of Confluo processes on one PostgreSQL. Every
// method is one transaction on a pooled connection. Claiming and committing
// processing batches (per-key leases) live in inbox-claims.ts, deliveries in
// postgres-deliveries.ts, sources in postgres-sources.ts, keys and operator
// actions in postgres-access.ts; this file wires them with the inbox, read and
// operator methods, migrations and notifications.
import type pg from 'pg';
import type { AccessStore } from '../access-store.js';
import type { DeliveryStore } from '../delivery-store.js';
import type { SourceStore } from '../source-store.js';
import type { Store, WakeChannel, WakePayload } from '../store.js';
import type { AcceptOutcome, AuditEntry, AuditQuery, EventTrace, FieldDiff, NewInboxEvent, ParkedKey, StoredRecord } from '../types.js';
import { CHANNELS, openPool, resolveOptions, transaction, unreachable, type PostgresStoreOptions, type ResolvedOptions } from './connection.js';
import { InboxClaims } from './inbox-claims.js';
import { insertInbox } from './inbox-insert.js';
import { toAudit, toRecord, type AuditRow, type InboxRow, type RecordRow } from '../rows.js';
import { PostgresAccess } from './postgres-access.js';
import { PostgresDeliveries } from './postgres-deliveries.js';
import { PostgresSources } from './postgres-sources.js';
import { migrate } from './schema.js';
import { WakeListener } from './wake-listener.js';

export class PostgresStore implements Store {
  readonly driver = 'postgres';
  readonly #options: ResolvedOptions;
  readonly #pool: pg.Pool;
  readonly #claims: InboxClaims;
  readonly #deliveries: PostgresDeliveries;
  readonly #sources: PostgresSources;
  readonly #access: PostgresAccess;
  readonly #listener: WakeListener;
  #closed: Promise<void> | undefined;

  constructor(options: PostgresStoreOptions) {
    this.#options = resolveOptions(options);
    this.#pool = openPool(this.#options);
    this.#claims = new InboxClaims(this.#pool, this.#options);
    this.#deliveries = new PostgresDeliveries(this.#pool);
    this.#sources = new PostgresSources(this.#pool);
    this.#access = new PostgresAccess(this.#pool);
    this.#listener = new WakeListener(this.#options.pool, this.#options.log);
  }

  /** Who holds this store's claims (unique per store unless configured). */
  get owner(): string {
    return this.#options.owner;
  }

  async init(): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw unreachable(error, this.#options);
    }
    let broken: Error | undefined;
    try {
      await migrate(client);
    } catch (error) {
      broken = error as Error;
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    this.#closed ??= Promise.all([this.#listener.close(), this.#pool.end()]).then(() => undefined);
    await this.#closed;
  }

  onWake(channel: WakeChannel, listener: (payload: WakePayload) => void): () => void {
    return this.#listener.add(channel, listener);
  }

  // Processing batches: per-key leases, so many workers never apply one key at once.
  claimBatch: Store['claimBatch'] = (...a) => this.#claims.claimBatch(...a);
  commitBatch: Store['commitBatch'] = (...a) => this.#claims.commitBatch(...a);

  // The outbound half lives in postgres-deliveries.ts, on the same pool.
  registerIntegrations: DeliveryStore['registerIntegrations'] = (...a) => this.#deliveries.registerIntegrations(...a);
  listIntegrations: DeliveryStore['listIntegrations'] = (...a) => this.#deliveries.listIntegrations(...a);
  setIntegrationState: DeliveryStore['setIntegrationState'] = (...a) => this.#deliveries.setIntegrationState(...a);
  claimDeliveries: DeliveryStore['claimDeliveries'] = (...a) => this.#deliveries.claimDeliveries(...a);
  settleAttempts: DeliveryStore['settleAttempts'] = (...a) => this.#deliveries.settleAttempts(...a);
  listDeliveries: DeliveryStore['listDeliveries'] = (...a) => this.#deliveries.listDeliveries(...a);
  getDelivery: DeliveryStore['getDelivery'] = (...a) => this.#deliveries.getDelivery(...a);
  retryDelivery: DeliveryStore['retryDelivery'] = (...a) => this.#deliveries.retryDelivery(...a);
  countReplayable: DeliveryStore['countReplayable'] = (...a) => this.#deliveries.countReplayable(...a);
  replayDeliveries: DeliveryStore['replayDeliveries'] = (...a) => this.#deliveries.replayDeliveries(...a);
  takeDigestWindow: DeliveryStore['takeDigestWindow'] = (...a) => this.#deliveries.takeDigestWindow(...a);
  commitDigest: DeliveryStore['commitDigest'] = (...a) => this.#deliveries.commitDigest(...a);

  // Scheduled sources live in postgres-sources.ts, on the same pool.
  registerSources: SourceStore['registerSources'] = (...a) => this.#sources.registerSources(...a);
  listSources: SourceStore['listSources'] = (...a) => this.#sources.listSources(...a);
  getSource: SourceStore['getSource'] = (...a) => this.#sources.getSource(...a);
  setSourceNextRun: SourceStore['setSourceNextRun'] = (...a) => this.#sources.setSourceNextRun(...a);
  startSourceRun: SourceStore['startSourceRun'] = (...a) => this.#sources.startSourceRun(...a);
  commitSourcePage: SourceStore['commitSourcePage'] = (...a) => this.#sources.commitSourcePage(...a);
  renewSourceLease: SourceStore['renewSourceLease'] = (...a) => this.#sources.renewSourceLease(...a);
  finishSourceRun: SourceStore['finishSourceRun'] = (...a) => this.#sources.finishSourceRun(...a);
  getSourceRun: SourceStore['getSourceRun'] = (...a) => this.#sources.getSourceRun(...a);
  listSourceRuns: SourceStore['listSourceRuns'] = (...a) => this.#sources.listSourceRuns(...a);
  listRejected: SourceStore['listRejected'] = (...a) => this.#sources.listRejected(...a);
  resetSourceCheckpoint: SourceStore['resetSourceCheckpoint'] = (...a) => this.#sources.resetSourceCheckpoint(...a);

  // Keys and operator actions live in postgres-access.ts, on the same pool.
  createKey: AccessStore['createKey'] = (...a) => this.#access.createKey(...a);
  findKey: AccessStore['findKey'] = (...a) => this.#access.findKey(...a);
  listKeys: AccessStore['listKeys'] = (...a) => this.#access.listKeys(...a);
  revokeKey: AccessStore['revokeKey'] = (...a) => this.#access.revokeKey(...a);
  touchKey: AccessStore['touchKey'] = (...a) => this.#access.touchKey(...a);
  recordAction: AccessStore['recordAction'] = (...a) => this.#access.recordAction(...a);
  listActions: AccessStore['listActions'] = (...a) => this.#access.listActions(...a);

  async accept(events: NewInboxEvent[]): Promise<AcceptOutcome[]> {
    if (events.length === 0) return [];
    return transaction(this.#pool, (client) => insertInbox(client, events));
  }

  async getRecord(entity: string, key: string): Promise<StoredRecord | undefined> {
    const { rows } = await this.#pool.query<RecordRow>('SELECT * FROM records WHERE entity = $1 AND key = $2', [entity, key]);
    return rows[0] && toRecord(rows[0]);
  }

  async listAudit(entity: string, key: string, query: AuditQuery): Promise<AuditEntry[]> {
    const { rows } = await this.#pool.query<AuditRow>(
      'SELECT * FROM audit WHERE entity = $1 AND key = $2 AND id > $3 AND ($4::bigint IS NULL OR at <= $4) ORDER BY id LIMIT $5',
      [entity, key, query.after ?? 0, query.until ?? null, query.limit],
    );
    return rows.map(toAudit);
  }

  async getEvent(eventId: string): Promise<EventTrace | undefined> {
    const { rows } = await this.#pool.query<InboxRow>('SELECT * FROM inbox WHERE event_id = $1', [eventId]);
    const row = rows[0];
    if (!row) return undefined;
    const [changes, deliveries] = await Promise.all([
      this.#pool.query<{ version: number; rule: string; changed_parts: string; diffs: string; at: number }>(
        'SELECT version, rule, changed_parts, diffs, at FROM changes WHERE event_id = $1 ORDER BY id',
        [eventId],
      ),
      this.#pool.query<{
        delivery_id: string;
        integration: string;
        status: EventTrace['deliveries'][number]['status'];
        attempts: number;
        total_attempts: number;
        last_error: string | null;
        last_status: number | null;
        created_at: number;
        completed_at: number | null;
      }>(
        'SELECT delivery_id, integration, status, attempts, total_attempts, last_error, last_status, created_at, completed_at FROM deliveries WHERE event_id = $1 ORDER BY seq',
        [eventId],
      ),
    ]);
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
      changes: changes.rows.map((c) => ({ version: c.version, rule: c.rule, changedParts: JSON.parse(c.changed_parts) as string[], diffs: JSON.parse(c.diffs) as FieldDiff[], at: c.at })),
      deliveries: deliveries.rows.map((d) => ({
        deliveryId: d.delivery_id,
        integration: d.integration,
        status: d.status,
        attempts: d.attempts,
        totalAttempts: d.total_attempts,
        lastError: d.last_error,
        lastStatus: d.last_status,
        createdAt: d.created_at,
        completedAt: d.completed_at,
      })),
    };
  }

  async listParked(): Promise<ParkedKey[]> {
    const { rows } = await this.#pool.query<{ entity: string; key: string; event_id: string; error: string; parked_at: number; waiting: number }>(
      `SELECT p.*, (SELECT count(*) FROM inbox i WHERE i.entity = p.entity AND i.key = p.key AND i.status IN ('queued', 'parked')) AS waiting
       FROM parked p ORDER BY parked_at, entity, key`,
    );
    return rows.map((r) => ({ entity: r.entity, key: r.key, eventId: r.event_id, error: JSON.parse(r.error) as ParkedKey['error'], parkedAt: r.parked_at, waiting: r.waiting }));
  }

  /** Unparks the key and sets its head event to `status`; the key's events flow again. */
  async #unpark(entity: string, key: string, status: 'queued' | 'skipped'): Promise<string | undefined> {
    return transaction(this.#pool, async (client) => {
      const { rows } = await client.query<{ event_id: string }>('DELETE FROM parked WHERE entity = $1 AND key = $2 RETURNING event_id', [entity, key]);
      const eventId = rows[0]?.event_id;
      if (eventId === undefined) return undefined;
      if (status === 'queued') await client.query(`UPDATE inbox SET status = 'queued', error = NULL WHERE event_id = $1 AND status = 'parked'`, [eventId]);
      else await client.query(`UPDATE inbox SET status = 'skipped', processed_at = $2 WHERE event_id = $1 AND status = 'parked'`, [eventId, Date.now()]);
      await client.query('SELECT pg_notify($1, $2)', [CHANNELS.inbox, '']);
      return eventId;
    });
  }

  async retryParked(entity: string, key: string): Promise<boolean> {
    return (await this.#unpark(entity, key, 'queued')) !== undefined;
  }

  async skipParked(entity: string, key: string): Promise<{ skippedEventId: string } | undefined> {
    const skippedEventId = await this.#unpark(entity, key, 'skipped');
    return skippedEventId === undefined ? undefined : { skippedEventId };
  }

  async queued(): Promise<number> {
    const { rows } = await this.#pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM inbox WHERE status = 'queued'`);
    return rows[0]!.n;
  }

  async stats(): Promise<{ queued: number; parkedKeys: number; records: number }> {
    const { rows } = await this.#pool.query<{ queued: number; parkedKeys: number; records: number }>(
      `SELECT (SELECT count(*) FROM inbox WHERE status = 'queued') AS queued,
              (SELECT count(*) FROM parked) AS "parkedKeys",
              (SELECT count(*) FROM records) AS records`,
    );
    return rows[0]!;
  }
}
