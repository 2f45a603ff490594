// The records part of the Store port: each key's current record, its audit
// trail (which is also its past: `engine/time-travel.ts` reads it), and the
// trace of what one event did.
import type { AuditEntry, AuditQuery, EventTrace, FlowEvent, IdentifierLink, StoredRecord } from './types.js';

export interface RecordStore {
  getRecord(entity: string, key: string): Promise<StoredRecord | undefined>;
  listAudit(entity: string, key: string, query: AuditQuery): Promise<AuditEntry[]>;
  /** The event, its status, the changes it made and the deliveries they caused. */
  getEvent(eventId: string): Promise<EventTrace | undefined>;
  /** The events of a flow, oldest first, at most `limit`, each with its changes and origin (none: an unknown flow). */
  listFlowEvents(flowId: string, limit: number): Promise<FlowEvent[]>;
  /**
   * The audit entries of one field of the key, oldest first: the newest `limit` of them, so a
   * long history keeps its end.
   */
  listFieldHistory(entity: string, key: string, part: string, field: string, limit: number): Promise<AuditEntry[]>;
  /** The identifier values that route to the key, by identifier then when each was linked. */
  listIdentifiers(entity: string, key: string): Promise<IdentifierLink[]>;
}
