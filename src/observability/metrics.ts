// Prometheus metrics of one hub, in a registry of its own: two hubs in one
// process never share a counter. Counters count what this process did, told
// by small hooks the hub wires in (answers to events, committed batches,
// settled attempts, source pages and runs, HTTP requests). The gauges that
// describe shared state (the backlog, deliveries waiting, dead letters,
// monitors) are read from the store at each scrape, so every process of a
// PostgreSQL hub reports the same values. Every label value comes from the
// configuration (event, integration, source and monitor names), a fixed set
// (outcomes, states, methods, statuses) or a route pattern: never a key, an
// id or a URL.
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EventResult } from '../engine/outcomes.js';
import type { ResponseEnvelope } from '../protocol/envelope.js';
import type { DeliveryAttempt } from '../store/delivery-types.js';
import { MONITOR_STATES } from '../store/health-types.js';
import type { Store } from '../store/store.js';
import type { SourceRun } from '../store/source-types.js';
import type { BatchCommit } from '../store/types.js';

/** The `event` label of an answer whose event name the flow does not define. */
export const UNKNOWN_EVENT = 'unknown';
/** The `route` label of a request no route matched. */
export const UNMATCHED_ROUTE = 'unmatched';

export interface HubMetricsOptions {
  store: Pick<Store, 'inbox' | 'deliveries' | 'health'>;
  /** The flow's event names: with `unknown`, every value the `event` label takes. */
  events: Iterable<string>;
  /** Whether a name (and version) the flow does not define is one of the users' own handlers: their answers are not events. */
  isOwnHandler: (name: string, version: number) => boolean;
  /** Configured integrations: each has a `pending` and `dead` series, 0 when it has none. */
  integrations: readonly string[];
  /** Configured monitors: each has a `confluo_monitor_state` series per state (the processes' own monitors are left out). */
  monitors: readonly string[];
  log: Logger;
}

type EventOutcome = 'accepted' | 'duplicate' | 'rejected';
type DeliveryOutcome = 'succeeded' | 'retrying' | 'failed' | 'dead' | 'ignored';

/** What a settled attempt counts as: `disabled` (the integration was paused by its answer) waits to be sent again. */
const ATTEMPT_OUTCOME: Record<DeliveryAttempt['outcome'], DeliveryOutcome> = { succeeded: 'succeeded', retry: 'retrying', failed: 'failed', dead: 'dead', disabled: 'retrying' };

/** Adds `n` to a tally keyed by two labels; a hot path counts into one of these and touches the counter once per label pair. */
function tally(counts: Map<string, Map<string, number>>, first: string, second: string, n = 1): void {
  let inner = counts.get(first);
  if (!inner) counts.set(first, (inner = new Map()));
  inner.set(second, (inner.get(second) ?? 0) + n);
}

function flush<A extends string, B extends string>(counter: Counter<A | B>, a: A, b: B, counts: Map<string, Map<string, number>>): void {
  for (const [first, inner] of counts) for (const [second, n] of inner) counter.inc({ [a]: first, [b]: second } as Record<A | B, string>, n);
}

export class HubMetrics {
  /** Counters and histograms: this process's own. */
  readonly registry = new Registry();
  /** Gauges read from the store at each scrape; left out of a scrape whose reads failed. */
  readonly #shared = new Registry();
  readonly #options: HubMetricsOptions;
  readonly #events: ReadonlySet<string>;

  readonly #received: Counter<'event' | 'outcome'>;
  readonly #processed: Counter<'event' | 'outcome'>;
  readonly #deliveries: Counter<'integration' | 'outcome'>;
  readonly #attemptDuration: Histogram<'integration'>;
  readonly #sourceRuns: Counter<'source' | 'outcome'>;
  readonly #sourceItems: Counter<'source' | 'outcome'>;
  readonly #requests: Histogram<'method' | 'route' | 'status'>;
  readonly #queued: Gauge;
  readonly #lag: Gauge;
  readonly #parked: Gauge;
  readonly #pending: Gauge<'integration'>;
  readonly #dead: Gauge<'integration'>;
  readonly #monitorState: Gauge<'monitor' | 'state'>;

  constructor(options: HubMetricsOptions) {
    this.#options = options;
    this.#events = new Set(options.events);
    const registers = [this.registry];
    const shared = [this.#shared];
    this.#received = new Counter({ name: 'confluo_events_total', help: 'Events answered on POST /events: accepted, duplicate, or rejected (any error answer).', labelNames: ['event', 'outcome'], registers });
    this.#processed = new Counter({ name: 'confluo_events_processed_total', help: 'Events applied by this process: processed, or parked (their rule failed).', labelNames: ['event', 'outcome'], registers });
    this.#deliveries = new Counter({
      name: 'confluo_deliveries_total',
      help: 'Delivery attempts settled by this process (succeeded, retrying, failed, dead), and deliveries written ignored or failed by processing.',
      labelNames: ['integration', 'outcome'],
      registers,
    });
    this.#attemptDuration = new Histogram({
      name: 'confluo_delivery_attempt_duration_seconds',
      help: 'How long each delivery attempt took, from send to answer.',
      labelNames: ['integration'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#sourceRuns = new Counter({ name: 'confluo_source_runs_total', help: 'Source runs this process made, by how they ended.', labelNames: ['source', 'outcome'], registers });
    this.#sourceItems = new Counter({ name: 'confluo_source_items_total', help: 'Source items this process read: emitted as events, or rejected.', labelNames: ['source', 'outcome'], registers });
    this.#requests = new Histogram({
      name: 'http_server_request_duration_seconds',
      help: 'Duration of HTTP requests served by this process, by method, route pattern and status.',
      labelNames: ['method', 'route', 'status'],
      // OpenTelemetry's advice for http.server.request.duration.
      buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
      registers,
    });
    this.#queued = new Gauge({ name: 'confluo_inbox_queued', help: 'Events waiting to be applied (shared by every process).', registers: shared });
    this.#lag = new Gauge({ name: 'confluo_processing_lag_seconds', help: 'Age of the oldest event waiting to be applied; 0 when none waits.', registers: shared });
    this.#parked = new Gauge({ name: 'confluo_parked_keys', help: 'Keys parked behind an event whose rule failed.', registers: shared });
    this.#pending = new Gauge({ name: 'confluo_deliveries_pending', help: 'Deliveries waiting to be sent or retried, per integration.', labelNames: ['integration'], registers: shared });
    this.#dead = new Gauge({ name: 'confluo_dead_letters', help: 'Deliveries out of retries (dead letters), per integration.', labelNames: ['integration'], registers: shared });
    this.#monitorState = new Gauge({ name: 'confluo_monitor_state', help: "1 for each monitor's current state, 0 for its other states.", labelNames: ['monitor', 'state'], registers: shared });
  }

  /** The answers of one events request (one per envelope). Answers of the users' own handlers are not events and are left out. */
  answered(answers: readonly ResponseEnvelope[]): void {
    if (answers.length === 1) {
      const [event, outcome] = this.#classify(answers[0] as ResponseEnvelope) ?? [];
      if (event !== undefined && outcome !== undefined) this.#received.inc({ event, outcome });
      return;
    }
    const counts = new Map<string, Map<string, number>>();
    for (const answer of answers) {
      const classified = this.#classify(answer);
      if (classified) tally(counts, classified[0], classified[1]);
    }
    flush(this.#received, 'event', 'outcome', counts);
  }

  #classify(answer: ResponseEnvelope): [string, EventOutcome] | undefined {
    const colon = answer.name.lastIndexOf(':');
    // Only the refusals that name no event go without a suffix: badProtocol and eventNotFound.
    if (colon < 0) {
      const named = answer.name === 'eventNotFound' ? (answer.payload as { parameters?: { event?: unknown } } | null)?.parameters?.event : undefined;
      return [typeof named === 'string' && this.#events.has(named) ? named : UNKNOWN_EVENT, 'rejected'];
    }
    const name = answer.name.slice(0, colon);
    const suffix = answer.name.slice(colon + 1);
    const known = this.#events.has(name);
    if (suffix === 'response' || suffix === 'redirect') {
      if (!known) return undefined;
      return [name, (answer.payload as { status?: unknown } | null)?.status === 'duplicate' ? 'duplicate' : 'accepted'];
    }
    if (!known && this.#options.isOwnHandler(name, answer.version)) return undefined;
    return [known ? name : UNKNOWN_EVENT, 'rejected'];
  }

  /** A committed processing batch: its events' outcomes, and the deliveries it wrote already settled (ignored, or failed mapping). */
  committed(results: readonly EventResult[], batch: BatchCommit): void {
    const events = new Map<string, Map<string, number>>();
    for (const result of results) tally(events, result.name, result.status);
    flush(this.#processed, 'event', 'outcome', events);
    let settled: Map<string, Map<string, number>> | undefined;
    for (const delivery of batch.deliveries) if (delivery.status !== 'pending') tally((settled ??= new Map()), delivery.integration, delivery.status);
    if (settled) flush(this.#deliveries, 'integration', 'outcome', settled);
  }

  /** An attempt this process settled. */
  attempted(attempt: DeliveryAttempt, integration: string): void {
    this.#deliveries.inc({ integration, outcome: ATTEMPT_OUTCOME[attempt.outcome] });
    this.#attemptDuration.observe({ integration }, attempt.durationMs / 1000);
  }

  /** A page a source run committed. */
  sourcePage(page: { source: string; emitted: number; rejected: number }): void {
    if (page.emitted > 0) this.#sourceItems.inc({ source: page.source, outcome: 'emitted' }, page.emitted);
    if (page.rejected > 0) this.#sourceItems.inc({ source: page.source, outcome: 'rejected' }, page.rejected);
  }

  /** A source run this process made has ended. */
  sourceRun(run: SourceRun): void {
    this.#sourceRuns.inc({ source: run.source, outcome: run.status });
  }

  /** An HTTP request served; `route` is the matched route's pattern, or undefined when none matched. */
  request(method: string, route: string | undefined, status: number, seconds: number): void {
    this.#requests.observe({ method, route: route ?? UNMATCHED_ROUTE, status: String(status) }, seconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text of every metric; when the store does not answer, the counters alone (and a warning in the log). */
  async scrape(): Promise<string> {
    const counters = await this.registry.metrics();
    try {
      await this.#readShared();
    } catch (error) {
      this.#options.log.warn({ err: error }, 'metrics could not read the store: this scrape has the counters only');
      return counters;
    }
    return `${counters}\n${await this.#shared.metrics()}`;
  }

  async #readShared(): Promise<void> {
    const { inbox, deliveries, health } = this.#options.store;
    const [backlog, byIntegration, monitors] = await Promise.all([
      inbox.backlog(),
      deliveries.backlogByIntegration(),
      this.#options.monitors.length > 0 ? health.listMonitors() : Promise.resolve([]),
    ]);
    this.#queued.set(backlog.queued);
    this.#lag.set(backlog.oldestAcceptedAt === null ? 0 : Math.max(0, (Date.now() - backlog.oldestAcceptedAt) / 1000));
    this.#parked.set(backlog.parkedKeys);
    const counts = new Map(byIntegration.map((row) => [row.integration, row]));
    this.#pending.reset();
    this.#dead.reset();
    for (const integration of this.#options.integrations) {
      this.#pending.set({ integration }, counts.get(integration)?.pending ?? 0);
      this.#dead.set({ integration }, counts.get(integration)?.dead ?? 0);
    }
    const states = new Map(monitors.map((row) => [row.name, row.state]));
    this.#monitorState.reset();
    for (const monitor of this.#options.monitors) {
      const current = states.get(monitor);
      if (current === undefined) continue;
      for (const state of MONITOR_STATES) this.#monitorState.set({ monitor, state }, state === current ? 1 : 0);
    }
  }
}
