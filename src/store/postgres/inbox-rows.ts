// The inbox, record and audit rows as PostgreSQL returns them, and the plain
// shapes of the port they become.
import { decodeOptional } from '../json-columns.js';
import type { AuditEntry, EventStatus, InboxEvent, StoredRecord } from '../types.js';

export interface InboxRow {
  seq: number;
  event_id: string;
  name: string;
  version: number;
  flow_id: string;
  entity: string;
  key: string;
  envelope: string;
  status: EventStatus;
  accepted_at: number;
  processed_at: number | null;
  result: string | null;
  error: string | null;
}

export interface RecordRow {
  entity: string;
  key: string;
  version: number;
  parts: string;
  created_at: number;
  updated_at: number;
}

export interface AuditRow {
  id: number;
  entity: string;
  key: string;
  version: number;
  part: string;
  field: string;
  old_value: string | null;
  new_value: string | null;
  rule: string;
  event_id: string;
  flow_id: string;
  at: number;
}

export const toRecord = (row: RecordRow): StoredRecord => ({
  entity: row.entity,
  key: row.key,
  version: row.version,
  parts: JSON.parse(row.parts) as StoredRecord['parts'],
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export const toInboxEvent = (row: InboxRow): InboxEvent => ({
  seq: row.seq,
  eventId: row.event_id,
  name: row.name,
  version: row.version,
  flowId: row.flow_id,
  entity: row.entity,
  key: row.key,
  envelope: JSON.parse(row.envelope) as Record<string, unknown>,
  status: row.status,
  acceptedAt: row.accepted_at,
});

export const toAudit = (row: AuditRow): AuditEntry => ({
  id: row.id,
  entity: row.entity,
  key: row.key,
  version: row.version,
  part: row.part,
  field: row.field,
  oldValue: decodeOptional(row.old_value),
  newValue: decodeOptional(row.new_value),
  rule: row.rule,
  eventId: row.event_id,
  flowId: row.flow_id,
  at: row.at,
});
