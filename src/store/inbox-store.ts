// The inbox part of the Store port: accepting events, claiming and committing
// processing batches, and the keys parked behind an event that failed.
import type { AcceptOutcome, BatchCommit, IdentifierLink, InboxEvent, LinkQuery, NewInboxEvent, ParkedKey, StoredRecord } from './types.js';

export interface ClaimedBatch {
  /** Queued events of keys that are not parked, oldest first; per key a prefix of its queue. */
  events: InboxEvent[];
  /** The current record of every key in `events` that has one, by `recordId(entity, key)`. */
  records: Map<string, StoredRecord>;
}

export interface InboxStore {
  /**
   * Durably records events (one transaction for the whole array), deduplicating by event id. An
   * event with a `route` is filed under the key of the record its identifier value is linked to,
   * when one is; else under its own `key`.
   */
  accept(events: NewInboxEvent[]): Promise<AcceptOutcome[]>;

  claimBatch(limit: number): Promise<ClaimedBatch>;
  /**
   * Claims the next batch while this process's batch in hand commits, so that the claim's round
   * trips overlap the commit; the batch is applied once that commit is in (stores whose commits
   * leave the event loop free: PostgreSQL). Like
   * `claimBatch`, but it skips every key with a live lease, this process's own (the batch in
   * hand) included, and looks for heads only past `afterSeq`, the highest seq in hand, instead
   * of walking the queued events in hand again. A key taken still comes with every queued event
   * of its own up to its head: per key, a prefix of its queue.
   */
  claimAhead?(limit: number, afterSeq: number): Promise<ClaimedBatch>;
  /**
   * Commits a batch in one transaction. Throws `StaleBatchError` (and writes nothing) when a
   * record's version moved since the claim or an event is no longer queued.
   */
  commitBatch(batch: BatchCommit): Promise<void>;
  /**
   * The identifier links of an entity a batch's new links are checked against: every link held
   * by `query.keys`, and whoever holds `query.values`.
   */
  findLinks(entity: string, query: LinkQuery): Promise<IdentifierLink[]>;

  listParked(): Promise<ParkedKey[]>;
  /** Unparks the key so its head event runs again. False when it was not parked. */
  retryParked(entity: string, key: string): Promise<boolean>;
  /** Marks the key's head event skipped and unparks the key. Undefined when it was not parked. */
  skipParked(entity: string, key: string): Promise<{ skippedEventId: string } | undefined>;
  /**
   * Events waiting to be applied: `Store.stats().queued` alone, cheap enough to call every
   * second. It reads the queued events' index only, where `stats()` also counts every record
   * (half a second at a million records on SQLite, measured).
   */
  queued(): Promise<number>;
  /**
   * What metrics report at each scrape: events waiting to be applied, when the oldest of them was
   * accepted (null when none), and parked keys. Cheap: the queued events' index, its first entry,
   * and the parked keys' table.
   */
  backlog(): Promise<Backlog>;
}

export interface Backlog {
  queued: number;
  oldestAcceptedAt: number | null;
  parkedKeys: number;
}
