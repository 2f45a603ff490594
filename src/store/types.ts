// The rows the store keeps, as plain data. Both drivers read and write exactly
// these shapes; times are epoch milliseconds.
import type { Delivery, DigestItem, NewDelivery } from './delivery-types.js';

/** JSON-safe values as stored. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Where an accepted event stands. */
export type EventStatus = 'queued' | 'processed' | 'parked' | 'skipped';

/** An envelope the ingest side hands to the store, already validated. */
export interface NewInboxEvent {
  eventId: string;
  name: string;
  version: number;
  flowId: string;
  entity: string;
  /** The record key; for a routed event, the key a new record gets when no record holds `route`'s value. */
  key: string;
  /**
   * The identifier value the event names its record by, when not the key: the store files the
   * event under the key of the record that value is linked to when it accepts it.
   */
  route?: { identifier: string; value: string };
  /** The whole request envelope, kept as received (credentials removed). */
  envelope: Record<string, unknown>;
  acceptedAt: number;
}

export type AcceptOutcome = { status: 'accepted'; seq: number } | { status: 'duplicate' };

export interface InboxEvent extends NewInboxEvent {
  seq: number;
  status: EventStatus;
}

export interface StoredRecord {
  entity: string;
  key: string;
  version: number;
  parts: Record<string, Record<string, unknown>>;
  createdAt: number;
  updatedAt: number;
}

/** One changed field. `oldValue`/`newValue` undefined means the field was absent. */
export interface FieldDiff {
  part: string;
  field: string;
  oldValue: unknown;
  newValue: unknown;
}

export interface AuditEntry extends FieldDiff {
  /** Monotonic position in the whole trail; the audit cursor. */
  id: number;
  entity: string;
  key: string;
  /** The record version this change produced. */
  version: number;
  rule: string;
  eventId: string;
  flowId: string;
  at: number;
}

export interface Change {
  entity: string;
  key: string;
  version: number;
  eventId: string;
  flowId: string;
  rule: string;
  changedParts: string[];
  diffs: FieldDiff[];
  record: StoredRecord;
  at: number;
}

export interface ProcessedResult {
  entity: string;
  key: string;
  /** Record version after the event (unchanged events report the current one; 0 when none exists). */
  version: number;
  changedParts: string[];
}

export interface ParkedKey {
  entity: string;
  key: string;
  eventId: string;
  error: { code: string; message: string; details?: Record<string, unknown> };
  parkedAt: number;
  /** Events of this key waiting behind the parked one (itself included). */
  waiting: number;
}

/** An identifier value that routes to a record: `email` `ana@example.com` → `CC-1015`. */
export interface IdentifierLink {
  entity: string;
  identifier: string;
  /** Normalised, as the entity's identifier declares. */
  value: string;
  key: string;
  /** The event whose change (or routing) linked it. */
  eventId: string;
  linkedAt: number;
}

/** Which links `InboxStore.findLinks` reads: every link of these keys, and the links of these values. */
export interface LinkQuery {
  keys: readonly string[];
  values: ReadonlyArray<{ identifier: string; value: string }>;
}

/** What one processing batch decided; the store commits it all or nothing. */
export interface BatchCommit {
  /** Records to write, each guarded by the version it was read at (0 = did not exist). */
  records: Array<{ record: StoredRecord; expectedVersion: number }>;
  audit: Array<Omit<AuditEntry, 'id'>>;
  changes: Change[];
  /** Deliveries the batch's changes and events cause: the outbox. */
  deliveries: NewDelivery[];
  digestItems: DigestItem[];
  /** `awaited`: its sender asked to wait for the outcome (`metadata.wait`); a shared store tells the other processes. */
  processed: Array<{ seq: number; eventId: string; result: ProcessedResult; at: number; awaited?: boolean }>;
  parked: Array<Omit<ParkedKey, 'waiting'> & { awaited?: boolean }>;
  /** Identifier values linked to the batch's records; a value another record took meanwhile makes the batch stale. */
  links?: IdentifierLink[];
}

export interface EventTrace {
  eventId: string;
  name: string;
  version: number;
  flowId: string;
  entity: string;
  key: string;
  status: EventStatus;
  acceptedAt: number;
  processedAt: number | null;
  result: ProcessedResult | null;
  error: ParkedKey['error'] | null;
  changes: Array<Pick<Change, 'version' | 'rule' | 'changedParts' | 'diffs' | 'at'>>;
  deliveries: Array<Pick<Delivery, 'deliveryId' | 'integration' | 'status' | 'attempts' | 'totalAttempts' | 'lastError' | 'lastStatus' | 'createdAt' | 'completedAt'>>;
}

/** The source run that emitted an event (recorded in its envelope's metadata by the source runner). */
export interface EventOrigin {
  source: string;
  runId: string;
  itemId: string | null;
}

/**
 * An event of a flow: its trace without the deliveries (a flow trace reads those whole, with their
 * attempts, from the deliveries part) and the source run that emitted it, if one did.
 */
export type FlowEvent = Omit<EventTrace, 'deliveries'> & { origin: EventOrigin | null };

export interface AuditQuery {
  /** Only entries with an id greater than this (the cursor). */
  after?: number;
  /** Only entries at or before this time. */
  until?: number;
  limit: number;
}
