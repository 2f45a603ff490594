// The Store port. The engine, ingest and read API speak only this interface;
// `store/sqlite` and `store/postgres` implement it and run the same contract
// suite (`store/store.contract.ts`).
import type { AccessStore } from './access-store.js';
import type { DeliveryStore } from './delivery-store.js';
import type { SourceStore } from './source-store.js';
import type {
  AcceptOutcome,
  AuditEntry,
  AuditQuery,
  BatchCommit,
  EventTrace,
  InboxEvent,
  NewInboxEvent,
  ParkedKey,
  StoredRecord,
} from './types.js';

export interface ClaimedBatch {
  /** Queued events of keys that are not parked, oldest first; per key a prefix of its queue. */
  events: InboxEvent[];
  /** The current record of every key in `events` that has one, by `recordId(entity, key)`. */
  records: Map<string, StoredRecord>;
}

/**
 * What `onWake` listens for: events queued (`inbox`), deliveries due (`deliveries`), or events
 * processed or parked (`outcomes`, whose payload lists their ids, so an ingest process can answer
 * a `wait` for an event another process applied).
 */
export type WakeChannel = 'inbox' | 'deliveries' | 'outcomes';

/**
 * The ids of the events a notification on `outcomes` is about; `undefined` when listening (re)started
 * and anything may have happened meanwhile. Always `undefined` on the other channels.
 */
export type WakePayload = readonly string[] | undefined;

export interface Store extends DeliveryStore, SourceStore, AccessStore {
  readonly driver: string;
  /** Creates or migrates the schema. Safe to call on every start. */
  init(): Promise<void>;
  close(): Promise<void>;
  /**
   * Calls `listener` when some process committed work on `channel`, and once whenever listening
   * (re)starts, so idle loops need not wait for their next poll. Returns a function that stops
   * the calls. Optional: a driver without notifications (SQLite, one process) has none, and
   * polling is the fallback either way.
   */
  onWake?(channel: WakeChannel, listener: (payload: WakePayload) => void): () => void;

  /** Durably records events (one transaction for the whole array), deduplicating by event id. */
  accept(events: NewInboxEvent[]): Promise<AcceptOutcome[]>;

  claimBatch(limit: number): Promise<ClaimedBatch>;
  /**
   * Commits a batch in one transaction. Throws `StaleBatchError` (and writes nothing) when a
   * record's version moved since the claim or an event is no longer queued.
   */
  commitBatch(batch: BatchCommit): Promise<void>;

  getRecord(entity: string, key: string): Promise<StoredRecord | undefined>;
  listAudit(entity: string, key: string, query: AuditQuery): Promise<AuditEntry[]>;
  getEvent(eventId: string): Promise<EventTrace | undefined>;

  listParked(): Promise<ParkedKey[]>;
  /** Unparks the key so its head event runs again. False when it was not parked. */
  retryParked(entity: string, key: string): Promise<boolean>;
  /** Marks the key's head event skipped and unparks the key. Undefined when it was not parked. */
  skipParked(entity: string, key: string): Promise<{ skippedEventId: string } | undefined>;
  /** Counts by status, for health and metrics. */
  stats(): Promise<{ queued: number; parkedKeys: number; records: number }>;
  /**
   * Events waiting to be applied: `stats().queued` alone, cheap enough to call every second. It
   * reads the queued events' index only, where `stats()` also counts every record (half a
   * second at a million records on SQLite, measured).
   */
  queued(): Promise<number>;
}

export function recordId(entity: string, key: string): string {
  return `${entity}\u0000${key}`;
}
