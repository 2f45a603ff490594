// The records part of the Store port: each key's current record, its audit
// trail (which is also its past: `engine/time-travel.ts` reads it), and the
// trace of what one event did.
import type { AuditEntry, AuditQuery, EventTrace, StoredRecord } from './types.js';

export interface RecordStore {
  getRecord(entity: string, key: string): Promise<StoredRecord | undefined>;
  listAudit(entity: string, key: string, query: AuditQuery): Promise<AuditEntry[]>;
  /** The event, its status, the changes it made and the deliveries they caused. */
  getEvent(eventId: string): Promise<EventTrace | undefined>;
}
