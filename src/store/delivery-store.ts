// The deliveries part of the Store port: claiming deliveries with leases,
// settling attempts, integration states, replays and digest windows.
import type {
  AttemptSettlement,
  ClaimRequest,
  Delivery,
  DeliveryAttempt,
  DeliveryFilter,
  DeliveryWithLog,
  DigestWindow,
  IntegrationBacklog,
  IntegrationRow,
  IntegrationState,
  IntegrationStateRow,
  NewDelivery,
} from './delivery-types.js';

export interface DeliveryStore {
  /** Makes sure every configured integration has a state row (new ones start active). */
  registerIntegrations(names: readonly string[], now: number): Promise<void>;
  listIntegrations(): Promise<IntegrationRow[]>;
  /** The integrations' states alone: cheap, where `listIntegrations` also counts every delivery. */
  listIntegrationStates(): Promise<IntegrationStateRow[]>;
  /**
   * Pending and dead deliveries per integration that has any, for metrics at every scrape: two
   * grouped counts over partial indexes, where `listIntegrations` counts every delivery.
   */
  backlogByIntegration(): Promise<IntegrationBacklog[]>;
  /** Sets the state; returns the previous one (undefined for an unknown integration). */
  setIntegrationState(name: string, state: IntegrationState, reason: string | null, now: number): Promise<IntegrationState | undefined>;

  /**
   * Leases due pending deliveries of active integrations until `now + leaseMs`. A delivery whose
   * lease ran out (its worker died) is due again. With `ordered`, only the oldest pending
   * delivery of each key is eligible.
   */
  claimDeliveries(requests: readonly ClaimRequest[], options: { now: number; leaseMs: number; owner: string }): Promise<Delivery[]>;
  /**
   * Writes each attempt and its delivery's new status, all in one transaction, where `owner`
   * still holds the lease. Returns, per settlement, the integration's failure streak after it,
   * or undefined when the lease was lost (nothing written for that one).
   */
  settleAttempts(settlements: readonly AttemptSettlement[], now: number): Promise<Array<{ failingSince: number | null; consecutiveFailures: number } | undefined>>;

  listDeliveries(filter: DeliveryFilter): Promise<Delivery[]>;
  getDelivery(deliveryId: string): Promise<(Delivery & { log: DeliveryAttempt[] }) | undefined>;
  /** Every delivery the events caused, oldest first, each with its attempts: a flow trace's deliveries. */
  listDeliveriesOfEvents(eventIds: readonly string[]): Promise<DeliveryWithLog[]>;
  /**
   * Every delivery caused by the events that changed the key from version `sinceVersion` on (one
   * per integration per change, and event deliveries of those events), oldest first, each with
   * its attempts: what field lineage follows.
   */
  listDeliveriesOfKey(entity: string, key: string, sinceVersion: number): Promise<DeliveryWithLog[]>;
  /** Sends a failed, dead or succeeded delivery again now, as a new cycle. False if not possible. */
  retryDelivery(deliveryId: string, now: number): Promise<boolean>;
  /** How many deliveries of the integration created in [since, until] a replay would resend. */
  countReplayable(integration: string, since: number, until: number): Promise<number>;
  /** Resends up to `limit` of them after `afterSeq`; returns how many and where to go on. */
  replayDeliveries(integration: string, since: number, until: number, options: { afterSeq: number; limit: number; now: number }): Promise<{ replayed: number; lastSeq: number | null }>;

  /** The oldest closed (end <= now) digest window of the integration with items not yet folded. */
  takeDigestWindow(integration: string, windowMs: number, now: number): Promise<DigestWindow | undefined>;
  /** Marks the window's items folded and writes its delivery (if any), once. */
  commitDigest(window: DigestWindow, delivery: NewDelivery | undefined): Promise<void>;
}

export type { NewDelivery };
