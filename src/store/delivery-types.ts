// The outbound rows: deliveries (one per integration per change or event, or
// per digest window), the log of their attempts, integration states, and the
// items waiting for a digest window to close.

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'dead' | 'ignored';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'succeeded', 'failed', 'dead', 'ignored'];

export type IntegrationState = 'active' | 'paused' | 'disabled';

/** What an integration's mapping produced: the request body and per-delivery extras. */
export interface DeliveryRequest<Body = unknown> {
  /** Sent as JSON. */
  body: Body;
  /** Extra headers for this delivery (the sink's own come first). */
  headers?: Record<string, string>;
  /** Overrides the sink's method. */
  method?: string;
}

/** A delivery as the processing transaction creates it. */
/** An integration's deliveries waiting to be sent (or retried) and its dead letters. */
export interface IntegrationBacklog {
  integration: string;
  pending: number;
  dead: number;
}

export interface NewDelivery {
  deliveryId: string;
  integration: string;
  /** `monitor`: the announcement of a monitor's transition (entity `monitor`, key its name, no version). */
  kind: 'change' | 'event' | 'digest' | 'monitor';
  entity: string;
  key: string;
  eventId: string;
  version: number | null;
  /** Undefined for an ignored delivery or one whose mapping failed. */
  request: DeliveryRequest | undefined;
  /** `pending` to send; `ignored` when the mapping said skip; `failed` when the mapping threw. */
  status: 'pending' | 'ignored' | 'failed';
  /** The skip reason or the mapping error. */
  reason?: string;
  createdAt: number;
}

export interface Delivery extends Omit<NewDelivery, 'status' | 'reason'> {
  seq: number;
  status: DeliveryStatus;
  /** Attempts in the current cycle (a retry or replay starts a new cycle). */
  attempts: number;
  totalAttempts: number;
  cycleStartedAt: number;
  nextAttemptAt: number | null;
  /** `manual` when an operator asked for the next attempt (retry, replay). */
  trigger: 'scheduled' | 'manual';
  lastError: string | null;
  lastStatus: number | null;
  updatedAt: number;
  completedAt: number | null;
}

/** A delivery with every attempt it had, oldest first (the delivery API's `attemptLog`). */
export type DeliveryWithLog = Delivery & { log: DeliveryAttempt[] };

export type AttemptOutcome = 'succeeded' | 'retry' | 'failed' | 'dead' | 'disabled';

export interface DeliveryAttempt {
  deliveryId: string;
  /** 1-based, counting every attempt the delivery ever had. */
  attempt: number;
  trigger: 'scheduled' | 'manual';
  startedAt: number;
  durationMs: number;
  method: string;
  /** Masked. */
  url: string;
  /** Masked request headers. */
  requestHeaders: Record<string, string>;
  status: number | null;
  /** Bounded excerpt of the response body, masked. */
  response: string | null;
  error: string | null;
  outcome: AttemptOutcome;
  nextAttemptAt: number | null;
}

/** How one attempt settles its delivery; committed with the attempt row. */
export interface AttemptSettlement {
  attempt: DeliveryAttempt;
  owner: string;
  status: DeliveryStatus;
  nextAttemptAt: number | null;
  /** True when the integration should count a success (resets its failure streak). */
  integrationSucceeded: boolean;
}

export interface IntegrationRow {
  name: string;
  state: IntegrationState;
  reason: string | null;
  failingSince: number | null;
  consecutiveFailures: number;
  updatedAt: number;
  counts: Record<DeliveryStatus, number>;
}

/** An integration's state, without the delivery counts. */
export type IntegrationStateRow = Omit<IntegrationRow, 'counts'>;

export interface ClaimRequest {
  integration: string;
  /** How many deliveries this integration may start now. */
  limit: number;
  /** One in flight per key, oldest first. */
  ordered: boolean;
}

export interface DeliveryFilter {
  integration?: string;
  status?: DeliveryStatus;
  key?: string;
  eventId?: string;
  /** Deliveries with a smaller seq (newest first paging). */
  before?: number;
  limit: number;
}

export interface DigestItem {
  integration: string;
  windowStart: number;
  entity: string;
  key: string;
  eventId: string;
  /** The body the mapping returned, kept until its window closes. */
  item: unknown;
  createdAt: number;
}

export interface DigestWindow {
  integration: string;
  windowStart: number;
  items: Array<DigestItem & { id: number }>;
}
