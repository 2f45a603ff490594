// The records part of the SQLite store (the RecordStore port), on the hub's
// one connection: records, their audit trail, event traces.
import type Database from 'better-sqlite3';
import type { RecordStore } from '../record-store.js';
import { toAudit, toEventTrace, toLink, type LinkRow, toFlowEvents, toRecord, type AuditRow, type ChangeTraceRow, type DeliveryTraceRow, type FlowChangeRow, type InboxRow, type RecordRow } from '../rows.js';
import type { AuditEntry, AuditQuery, EventTrace, FlowEvent, IdentifierLink, StoredRecord } from '../types.js';
import { Statements } from './statements.js';

function prepare(db: Database.Database) {
  return {
    getRecord: db.prepare('SELECT * FROM records WHERE entity = ? AND key = ?'),
    getEvent: db.prepare('SELECT * FROM inbox WHERE event_id = ?'),
    changesOfEvent: db.prepare('SELECT version, rule, changed_parts, diffs, at FROM changes WHERE event_id = ? ORDER BY id'),
    deliveriesOfEvent: db.prepare(
      'SELECT delivery_id, integration, status, attempts, total_attempts, last_error, last_status, created_at, completed_at FROM deliveries WHERE event_id = ? ORDER BY seq',
    ),
    // A scan: an index by flow id more than halved accepts here (see PostgreSQL's schema 9, which has one).
    flowEvents: db.prepare('SELECT * FROM inbox WHERE flow_id = ? ORDER BY seq LIMIT ?'),
    // The ids travel as one JSON array: one statement for any number of them.
    changesOfEvents: db.prepare(
      'SELECT event_id, version, rule, changed_parts, diffs, at FROM changes WHERE event_id IN (SELECT value FROM json_each(?)) ORDER BY id',
    ),
    identifiers: db.prepare('SELECT * FROM identifier_links WHERE entity = ? AND key = ? ORDER BY identifier, linked_at, value'),
    fieldHistory: db.prepare('SELECT * FROM audit WHERE entity = ? AND key = ? AND part = ? AND field = ? ORDER BY id DESC LIMIT ?'),
  };
}

export class SqliteRecords implements RecordStore {
  readonly #sql: ReturnType<typeof prepare>;
  readonly #cached: Statements;

  constructor(db: Database.Database) {
    this.#sql = prepare(db);
    this.#cached = new Statements(db);
  }

  async getRecord(entity: string, key: string): Promise<StoredRecord | undefined> {
    const row = this.#sql.getRecord.get(entity, key) as RecordRow | undefined;
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
    const row = this.#sql.getEvent.get(eventId) as InboxRow | undefined;
    if (!row) return undefined;
    return toEventTrace(row, this.#sql.changesOfEvent.all(eventId) as ChangeTraceRow[], this.#sql.deliveriesOfEvent.all(eventId) as DeliveryTraceRow[]);
  }

  async listFlowEvents(flowId: string, limit: number): Promise<FlowEvent[]> {
    const rows = this.#sql.flowEvents.all(flowId, limit) as InboxRow[];
    if (rows.length === 0) return [];
    return toFlowEvents(rows, this.#sql.changesOfEvents.all(JSON.stringify(rows.map((r) => r.event_id))) as FlowChangeRow[]);
  }

  async listFieldHistory(entity: string, key: string, part: string, field: string, limit: number): Promise<AuditEntry[]> {
    return (this.#sql.fieldHistory.all(entity, key, part, field, limit) as AuditRow[]).map(toAudit).reverse();
  }

  async listIdentifiers(entity: string, key: string): Promise<IdentifierLink[]> {
    return (this.#sql.identifiers.all(entity, key) as LinkRow[]).map(toLink);
  }
}
