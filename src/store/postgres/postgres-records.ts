// The records part of the PostgreSQL store (the RecordStore port): records,
// their audit trail, event traces.
import type pg from 'pg';
import type { RecordStore } from '../record-store.js';
import { toAudit, toRecord, type AuditRow, type InboxRow, type RecordRow } from '../rows.js';
import type { AuditEntry, AuditQuery, EventTrace, FieldDiff, StoredRecord } from '../types.js';

export class PostgresRecords implements RecordStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
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

}
