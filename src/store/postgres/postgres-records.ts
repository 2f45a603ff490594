// The records part of the PostgreSQL store (the RecordStore port): records,
// their audit trail, event traces.
import type pg from 'pg';
import type { RecordStore } from '../record-store.js';
import { toAudit, toEventTrace, toLink, type LinkRow, toFlowEvents, toRecord, type AuditRow, type ChangeTraceRow, type DeliveryTraceRow, type FlowChangeRow, type InboxRow, type RecordRow } from '../rows.js';
import type { AuditEntry, AuditQuery, EventTrace, FlowEvent, IdentifierLink, StoredRecord } from '../types.js';

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
      this.#pool.query<ChangeTraceRow>('SELECT version, rule, changed_parts, diffs, at FROM changes WHERE event_id = $1 ORDER BY id', [eventId]),
      this.#pool.query<DeliveryTraceRow>(
        'SELECT delivery_id, integration, status, attempts, total_attempts, last_error, last_status, created_at, completed_at FROM deliveries WHERE event_id = $1 ORDER BY seq',
        [eventId],
      ),
    ]);
    return toEventTrace(row, changes.rows, deliveries.rows);
  }

  async listFlowEvents(flowId: string, limit: number): Promise<FlowEvent[]> {
    const { rows } = await this.#pool.query<InboxRow>('SELECT * FROM inbox WHERE flow_id = $1 ORDER BY seq LIMIT $2', [flowId, limit]);
    if (rows.length === 0) return [];
    const changes = await this.#pool.query<FlowChangeRow>(
      'SELECT event_id, version, rule, changed_parts, diffs, at FROM changes WHERE event_id = ANY($1::text[]) ORDER BY id',
      [rows.map((r) => r.event_id)],
    );
    return toFlowEvents(rows, changes.rows);
  }

  async listFieldHistory(entity: string, key: string, part: string, field: string, limit: number): Promise<AuditEntry[]> {
    const { rows } = await this.#pool.query<AuditRow>(
      'SELECT * FROM audit WHERE entity = $1 AND key = $2 AND part = $3 AND field = $4 ORDER BY id DESC LIMIT $5',
      [entity, key, part, field, limit],
    );
    return rows.map(toAudit).reverse();
  }

  async listIdentifiers(entity: string, key: string): Promise<IdentifierLink[]> {
    const { rows } = await this.#pool.query<LinkRow>('SELECT * FROM identifier_links WHERE entity = $1 AND key = $2 ORDER BY identifier, linked_at, value', [entity, key]);
    return rows.map(toLink);
  }
}
