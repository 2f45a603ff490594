// The Store port: parts held as properties, each a port of its own with its
// own contract suite (`store/*-store.contract.ts`), and the life cycle of the
// connection they share. The engine, ingest, delivery, sources and APIs each
// take only the parts they use. `store/sqlite` and `store/postgres` implement
// every part and run every suite (`describeStoreContract`).
import type { AccessStore } from './access-store.js';
import type { DeliveryStore } from './delivery-store.js';
import type { HealthStore } from './health-store.js';
import type { InboxStore } from './inbox-store.js';
import type { RecordStore } from './record-store.js';
import type { SourceStore } from './source-store.js';

export type { ClaimedBatch } from './inbox-store.js';

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

export interface Store {
  readonly driver: string;
  /**
   * Who holds this store's leases where processes share them (PostgreSQL: keys being processed),
   * so a process can use it as its id; undefined where nothing is leased across processes.
   */
  readonly owner?: string;
  /** Events accepted, claimed and committed by processing; parked keys. */
  readonly inbox: InboxStore;
  /** Records, their audit trail and event traces. */
  readonly records: RecordStore;
  /** Deliveries, their attempts, integration states and digest windows. */
  readonly deliveries: DeliveryStore;
  /** Scheduled sources: checkpoints, leases, runs and rejected items. */
  readonly sources: SourceStore;
  /** API keys and the operator actions taken with them. */
  readonly access: AccessStore;
  /** The hub's processes and their beats (and the release of a dead one's leases); monitors and their transitions. */
  readonly health: HealthStore;

  /** Creates or migrates the schema. Safe to call on every start. The parts work once it resolved. */
  init(): Promise<void>;
  close(): Promise<void>;
  /**
   * Calls `listener` when some process committed work on `channel`, and once whenever listening
   * (re)starts, so idle loops need not wait for their next poll. Returns a function that stops
   * the calls. Optional: a driver without notifications (SQLite, one process) has none, and
   * polling is the fallback either way.
   */
  onWake?(channel: WakeChannel, listener: (payload: WakePayload) => void): () => void;
  /** Counts across the inbox and records, for health and metrics. */
  stats(): Promise<{ queued: number; parkedKeys: number; records: number }>;
}

export function recordId(entity: string, key: string): string {
  return `${entity}\u0000${key}`;
}
