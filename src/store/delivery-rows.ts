// Delivery rows as both SQL drivers keep them, and the rules on them that are
// not a driver's business: the columns a new delivery starts with, when a
// delivery counts as finished, what a retry or replay starts over and which
// deliveries a replay selects. The SQL around them stays per driver.
import {
  DELIVERY_STATUSES,
  type AttemptSettlement,
  type Delivery,
  type DeliveryAttempt,
  type DeliveryStatus,
  type DeliveryWithLog,
  type DigestWindow,
  type IntegrationBacklog,
  type IntegrationRow,
  type IntegrationState,
  type IntegrationStateRow,
  type NewDelivery,
} from './delivery-types.js';

export interface DeliveryRowDb {
  seq: number;
  delivery_id: string;
  integration: string;
  kind: Delivery['kind'];
  entity: string;
  key: string;
  event_id: string;
  version: number | null;
  request: string | null;
  status: DeliveryStatus;
  attempts: number;
  total_attempts: number;
  cycle_started_at: number;
  next_attempt_at: number | null;
  trigger: Delivery['trigger'];
  last_error: string | null;
  last_status: number | null;
  created_at: number;
  updated_at: number;
  completed_at: number | null;
}

/** The columns a Delivery is read from, in the order `deliveryFromColumns` expects them. */
export const DELIVERY_COLUMNS = [
  'seq', 'delivery_id', 'integration', 'kind', 'entity', 'key', 'event_id', 'version', 'request', 'status', 'attempts', 'total_attempts',
  'cycle_started_at', 'next_attempt_at', 'trigger', 'last_error', 'last_status', 'created_at', 'updated_at', 'completed_at',
] as const satisfies ReadonlyArray<keyof DeliveryRowDb>;

/**
 * A Delivery from a row read as an array in DELIVERY_COLUMNS order, as claims read them: a
 * driver building an object of twenty named columns per row (about 5 µs through better-sqlite3)
 * only for this to read it again is work the claim path does not need.
 */
export const deliveryFromColumns = (c: readonly unknown[]): Delivery => ({
  seq: c[0] as number,
  deliveryId: c[1] as string,
  integration: c[2] as string,
  kind: c[3] as Delivery['kind'],
  entity: c[4] as string,
  key: c[5] as string,
  eventId: c[6] as string,
  version: c[7] as number | null,
  request: c[8] === null ? undefined : (JSON.parse(c[8] as string) as Delivery['request']),
  status: c[9] as DeliveryStatus,
  attempts: c[10] as number,
  totalAttempts: c[11] as number,
  cycleStartedAt: c[12] as number,
  nextAttemptAt: c[13] as number | null,
  trigger: c[14] as Delivery['trigger'],
  lastError: c[15] as string | null,
  lastStatus: c[16] as number | null,
  createdAt: c[17] as number,
  updatedAt: c[18] as number,
  completedAt: c[19] as number | null,
});

export const toDelivery = (row: DeliveryRowDb): Delivery => deliveryFromColumns(DELIVERY_COLUMNS.map((c) => row[c]));

/** The columns of a new delivery: a pending one is due at once, any other is finished as it is made. */
export const newDeliveryRow = (d: NewDelivery) => {
  const pending = d.status === 'pending';
  return {
    delivery_id: d.deliveryId,
    integration: d.integration,
    kind: d.kind,
    entity: d.entity,
    key: d.key,
    event_id: d.eventId,
    version: d.version,
    request: d.request === undefined ? null : JSON.stringify(d.request),
    status: d.status,
    cycle_started_at: d.createdAt,
    next_attempt_at: pending ? d.createdAt : null,
    last_error: d.reason ?? null,
    created_at: d.createdAt,
    updated_at: d.createdAt,
    completed_at: pending ? null : d.createdAt,
  };
};

export interface AttemptRowDb {
  delivery_id: string;
  attempt: number;
  trigger: DeliveryAttempt['trigger'];
  started_at: number;
  duration_ms: number;
  method: string;
  url: string;
  request_headers: string;
  status: number | null;
  response: string | null;
  error: string | null;
  outcome: DeliveryAttempt['outcome'];
  next_attempt_at: number | null;
}

export const toAttempt = (a: AttemptRowDb): DeliveryAttempt => ({
  deliveryId: a.delivery_id,
  attempt: a.attempt,
  trigger: a.trigger,
  startedAt: a.started_at,
  durationMs: a.duration_ms,
  method: a.method,
  url: a.url,
  requestHeaders: JSON.parse(a.request_headers) as Record<string, string>,
  status: a.status,
  response: a.response,
  error: a.error,
  outcome: a.outcome,
  nextAttemptAt: a.next_attempt_at,
});

/** The columns of a new attempt's row. */
export const newAttemptRow = (a: DeliveryAttempt) => ({
  delivery_id: a.deliveryId,
  attempt: a.attempt,
  trigger: a.trigger,
  started_at: a.startedAt,
  duration_ms: a.durationMs,
  method: a.method,
  url: a.url,
  request_headers: JSON.stringify(a.requestHeaders),
  status: a.status,
  response: a.response,
  error: a.error,
  outcome: a.outcome,
  next_attempt_at: a.nextAttemptAt,
});

export interface IntegrationRowDb {
  name: string;
  state: IntegrationState;
  reason: string | null;
  failing_since: number | null;
  consecutive_failures: number;
  updated_at: number;
}

export const toIntegrationState = (r: IntegrationRowDb): IntegrationStateRow => ({
  name: r.name,
  state: r.state,
  reason: r.reason,
  failingSince: r.failing_since,
  consecutiveFailures: r.consecutive_failures,
  updatedAt: r.updated_at,
});

/** Each integration with its deliveries counted by status, every status present (0 when none). */
export const toIntegrations = (rows: readonly IntegrationRowDb[], counts: ReadonlyArray<{ integration: string; status: DeliveryStatus; n: number }>): IntegrationRow[] =>
  rows.map((r) => {
    const byStatus = Object.fromEntries(DELIVERY_STATUSES.map((s) => [s, 0])) as Record<DeliveryStatus, number>;
    for (const c of counts) if (c.integration === r.name) byStatus[c.status] = Number(c.n);
    return { ...toIntegrationState(r), counts: byStatus };
  });

/** Deliveries (in order) each with its attempts, from the attempts of them all (in order). */
export function withLogs(rows: readonly DeliveryRowDb[], attempts: readonly AttemptRowDb[]): DeliveryWithLog[] {
  const logs = new Map<string, DeliveryAttempt[]>();
  for (const a of attempts) {
    const log = logs.get(a.delivery_id);
    if (log) log.push(toAttempt(a));
    else logs.set(a.delivery_id, [toAttempt(a)]);
  }
  return rows.map((r) => ({ ...toDelivery(r), log: logs.get(r.delivery_id) ?? [] }));
}

export interface DigestItemRowDb {
  id: number;
  window_start: number;
  entity: string;
  key: string;
  event_id: string;
  item: string;
  created_at: number;
}

/** The window of these items (all of one integration and window, oldest first); undefined for none. */
export const toDigestWindow = (integration: string, rows: readonly DigestItemRowDb[]): DigestWindow | undefined =>
  rows[0] && {
    integration,
    windowStart: rows[0].window_start,
    items: rows.map((r) => ({
      id: r.id,
      integration,
      windowStart: r.window_start,
      entity: r.entity,
      key: r.key,
      eventId: r.event_id,
      item: JSON.parse(r.item) as unknown,
      createdAt: r.created_at,
    })),
  };

const FINISHED: ReadonlySet<DeliveryStatus> = new Set(['succeeded', 'failed', 'dead', 'ignored']);

/** When a delivery settled into `status` at `now` was completed: null while it is still pending. */
export const completedAt = (status: DeliveryStatus, now: number): number | null => (FINISHED.has(status) ? now : null);

/**
 * Which deliveries a retry or replay may send again: finished ones that have a request (an
 * ignored delivery has none; a pending one is still on its way). SQL both drivers read alike.
 */
export const REPLAYABLE = `status IN ('succeeded', 'failed', 'dead') AND request IS NOT NULL`;

/**
 * The deliveries a replay of `integration` over [since, until] selects: replayable ones created
 * in the range, both ends included. The arguments are the driver's placeholders.
 */
export const inReplayRange = (integration: string, since: string, until: string): string =>
  `integration = ${integration} AND created_at BETWEEN ${since} AND ${until} AND ${REPLAYABLE}`;

/** What starting a new cycle sets: pending now, attempts counted afresh, sent as `manual`. `now` is the driver's placeholder. */
export const restartCycle = (now: string): string =>
  `status = 'pending', attempts = 0, cycle_started_at = ${now}, next_attempt_at = ${now}, trigger = 'manual', completed_at = NULL, updated_at = ${now}`;

/** An integration's failure streak: since when its deliveries fail, and how many attempts in a row did. */
export interface FailureStreak {
  failingSince: number | null;
  consecutiveFailures: number;
}

export const noStreak = (): FailureStreak => ({ failingSince: null, consecutiveFailures: 0 });

/**
 * The streak after one settled attempt: a success of the integration ends it, a failure extends
 * it, and it began when the first failing attempt started. The dispatcher disables an
 * integration on the streak this returns.
 */
export const followStreak = (before: FailureStreak, settlement: AttemptSettlement): FailureStreak =>
  settlement.integrationSucceeded
    ? noStreak()
    : { failingSince: before.failingSince ?? settlement.attempt.startedAt, consecutiveFailures: before.consecutiveFailures + 1 };

/** Per integration, from the rows of a count grouped by integration and status. */
export function backlogFromCounts(rows: ReadonlyArray<{ integration: string; status: 'pending' | 'dead'; n: number }>): IntegrationBacklog[] {
  const by = new Map<string, IntegrationBacklog>();
  for (const row of rows) {
    let entry = by.get(row.integration);
    if (!entry) by.set(row.integration, (entry = { integration: row.integration, pending: 0, dead: 0 }));
    entry[row.status] += row.n;
  }
  return [...by.values()].sort((a, b) => (a.integration < b.integration ? -1 : a.integration > b.integration ? 1 : 0));
}
