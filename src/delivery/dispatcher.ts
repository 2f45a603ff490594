// The delivery worker: leases due deliveries of active integrations (within
// each one's concurrency and rate limit), sends them through their sink,
// classifies the answer, and settles the attempt: success, retry at the next
// scheduled time, failure, dead letter, or integration disabled. Closes
// digest windows into one delivery each.
import { LoopHealthTracker } from '../runtime/loop-health.js';
import { WorkLoop } from '../runtime/work-loop.js';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { DeliveryStore } from '../store/delivery-store.js';
import type { LoopHealth } from '../store/health-types.js';
import type { AttemptOutcome, AttemptSettlement, Delivery, DeliveryAttempt, DeliveryStatus, DigestWindow, NewDelivery } from '../store/delivery-types.js';
import { maskText } from './auth/index.js';
import type { Integration } from './integration.js';
import { isSkip } from './integration.js';
import { classify } from './outcome.js';
import { retryPolicy, type RetryPolicy } from './retry-policy.js';

export interface Alert {
  kind: 'integration.disabled';
  integration: string;
  reason: string;
  at: Date;
}

export interface DispatcherOptions {
  /** How often an idle dispatcher looks for due deliveries. @defaultValue 200 */
  pollMs?: number;
  /** How long a claimed delivery is ours before another worker may take it. @defaultValue 60000 */
  leaseMs?: number;
  /** @defaultValue a random id per process */
  owner?: string;
  clock?: () => number;
  /** Raised once per transition (e.g. an integration was disabled). */
  onAlert?: (alert: Alert) => void;
  /** Called after each attempt this process settled (not one whose lease was lost), e.g. for metrics. */
  onAttempt?: (attempt: DeliveryAttempt, integration: string, delivery: Delivery) => void;
}

/**
 * A successful attempt whose settle has not committed is no longer a request to the system: it
 * gives its concurrency slot back at once, so a slow settle does not hold the integration's
 * receiver idle. Those attempts still hold their lease and memory, and this many per slot may
 * wait to settle before claiming stops.
 */
const UNSETTLED_PER_SLOT = 4;

interface Bucket {
  tokens: number;
  at: number;
}

export class Dispatcher {
  readonly #store: DeliveryStore;
  readonly #log: Logger;
  readonly #integrations: Map<string, Integration>;
  readonly #policies = new Map<string, RetryPolicy>();
  /** Requests in flight to each integration's system: what its `concurrency` limits. */
  readonly #inflight = new Map<string, number>();
  /** Attempts of each integration claimed and not yet settled: requests in flight and settles pending. */
  readonly #unsettled = new Map<string, number>();
  readonly #buckets = new Map<string, Bucket>();
  /** Who waits in `stop` for the attempts in flight (those in `#sending`) to settle. */
  readonly #idleWaiters: Array<() => void> = [];
  #settling: Array<{ settlement: AttemptSettlement; resolve: (streak: { failingSince: number | null; consecutiveFailures: number } | undefined) => void; reject: (error: unknown) => void }> = [];
  /** Deliveries this process is sending now; a lease that ran out mid-request must not start a second copy. */
  readonly #sending = new Set<string>();
  readonly #options: Required<Omit<DispatcherOptions, 'onAlert' | 'onAttempt'>> & Pick<DispatcherOptions, 'onAlert' | 'onAttempt'>;
  readonly #loop = new WorkLoop(() => this.#round());
  readonly #health = new LoopHealthTracker('dispatcher');
  /**
   * The last claim got fewer than it asked for: nothing more is due until a delivery finishes,
   * new ones are written (both wake the loop) or a retry comes due (the poll). Claiming again
   * at once would only open a transaction to find nothing.
   */
  #drained = false;

  constructor(store: DeliveryStore, integrations: readonly Integration[], log: Logger, options: DispatcherOptions = {}) {
    this.#store = store;
    this.#log = log;
    this.#integrations = new Map(integrations.filter((i) => i.disabled === false).map((i) => [i.name, i]));
    for (const i of this.#integrations.values()) this.#policies.set(i.name, retryPolicy(i.retry));
    this.#options = { pollMs: 200, leaseMs: 60_000, owner: `dispatcher-${randomUUID()}`, clock: Date.now, ...options };
    const slowest = Math.max(0, ...[...this.#integrations.values()].map((i) => i.timeoutMs));
    if (this.#integrations.size > 0 && this.#options.leaseMs <= slowest) {
      log.warn({ leaseMs: this.#options.leaseMs, timeoutMs: slowest }, 'the delivery lease is not longer than the slowest integration timeout: another process could resend a delivery still in flight');
    }
  }

  get integrations(): ReadonlyMap<string, Integration> {
    return this.#integrations;
  }

  start(): void {
    if (this.#integrations.size > 0) this.#loop.start();
  }

  /** Stops claiming and waits for the attempts in flight to settle. */
  async stop(): Promise<void> {
    await this.#loop.stop();
    if (this.#sending.size > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  wake(): void {
    this.#loop.wake();
  }

  /** Whether this process sends deliveries at all: with no active integration the loop never starts. */
  get running(): boolean {
    return this.#integrations.size > 0;
  }

  /** How the loop did at its last round, for beats and `/readyz`. */
  health(): LoopHealth {
    return this.#health.read();
  }

  /** Closes due digest windows and starts what is due; returns how long to nap before the next round. */
  async #round(): Promise<number> {
    try {
      await this.closeDigests();
      const started = await this.tick();
      this.#health.ok();
      return started === 0 || this.#drained ? this.#options.pollMs : 0;
    } catch (error) {
      this.#log.error({ err: error }, 'delivery tick failed; retrying');
      this.#health.trouble('error', `could not claim deliveries: ${error instanceof Error ? error.message : String(error)}`);
      return this.#options.pollMs;
    }
  }

  #tokens(integration: Integration, now: number): number {
    const limit = integration.rateLimit;
    if (!limit) return Number.POSITIVE_INFINITY;
    const bucket = this.#buckets.get(integration.name) ?? { tokens: limit.max, at: now };
    bucket.tokens = Math.min(limit.max, bucket.tokens + ((now - bucket.at) * limit.max) / limit.perMs);
    bucket.at = now;
    this.#buckets.set(integration.name, bucket);
    return Math.floor(bucket.tokens);
  }

  /** Claims and starts what is due now. Returns how many deliveries it started. */
  async tick(): Promise<number> {
    const now = this.#options.clock();
    const requests = [...this.#integrations.values()].map((i) => ({
      integration: i.name,
      ordered: i.ordered,
      limit: Math.max(0, Math.min(i.concurrency - (this.#inflight.get(i.name) ?? 0), i.concurrency * UNSETTLED_PER_SLOT - (this.#unsettled.get(i.name) ?? 0), this.#tokens(i, now))),
    }));
    if (requests.every((r) => r.limit === 0)) return 0;
    const claimed = await this.#store.claimDeliveries(requests, { now, leaseMs: this.#options.leaseMs, owner: this.#options.owner });
    this.#drained = claimed.length < requests.reduce((sum, r) => sum + r.limit, 0);
    for (const delivery of claimed) {
      if (this.#sending.has(delivery.deliveryId)) continue;
      this.#sending.add(delivery.deliveryId);
      const integration = this.#integrations.get(delivery.integration) as Integration;
      const bucket = this.#buckets.get(integration.name);
      if (bucket) bucket.tokens -= 1;
      this.#inflight.set(integration.name, (this.#inflight.get(integration.name) ?? 0) + 1);
      this.#unsettled.set(integration.name, (this.#unsettled.get(integration.name) ?? 0) + 1);
      void this.#task(integration, delivery);
    }
    return claimed.length;
  }

  /**
   * One attempt, from send to settled, and its slot freed. One async method rather than a
   * `.catch().finally()` chain: two promises and two closures fewer per delivery (under tsx a
   * named closure also costs an `Object.defineProperty`).
   */
  async #task(integration: Integration, delivery: Delivery): Promise<void> {
    const slot = { held: true };
    try {
      await this.#deliver(integration, delivery, slot);
    } catch (error) {
      this.#log.error({ err: error, deliveryId: delivery.deliveryId, integration: delivery.integration, eventId: delivery.eventId }, 'delivery attempt crashed; its lease will expire and it will be retried');
    } finally {
      this.#sending.delete(delivery.deliveryId);
      this.#freeSlot(integration, slot);
      this.#unsettled.set(integration.name, (this.#unsettled.get(integration.name) ?? 1) - 1);
      if (this.#sending.size === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
      this.wake();
    }
  }

  /** The request is over: the integration may take another while this attempt settles. */
  #freeSlot(integration: Integration, slot: { held: boolean }): void {
    if (!slot.held) return;
    slot.held = false;
    this.#inflight.set(integration.name, (this.#inflight.get(integration.name) ?? 1) - 1);
  }

  async #deliver(integration: Integration, delivery: Delivery, slot: { held: boolean }): Promise<void> {
    const clock = this.#options.clock;
    const attemptNo = delivery.totalAttempts + 1;
    const startedAt = clock();
    const response = await integration.sink.send(delivery.request ?? { body: null }, {
      deliveryId: delivery.deliveryId,
      attempt: attemptNo,
      integration: integration.name,
      entity: delivery.entity,
      key: delivery.key,
      eventId: delivery.eventId,
      timeoutMs: integration.timeoutMs,
    });
    const now = clock();
    const verdict = classify(response, now);
    // Only a success frees its slot before the settle: after a failure the settle may disable the
    // integration (410, or a streak), and until it does nothing more should go to that system.
    if (verdict.kind === 'success') {
      this.#freeSlot(integration, slot);
      this.wake();
    }

    let status: DeliveryStatus;
    let outcome: AttemptOutcome;
    let nextAttemptAt: number | null = null;
    if (verdict.kind === 'success') {
      status = 'succeeded';
      outcome = 'succeeded';
    } else if (verdict.kind === 'fail') {
      status = 'failed';
      outcome = 'failed';
    } else if (verdict.kind === 'disable') {
      // The delivery waits, unharmed, for the integration to be resumed.
      status = 'pending';
      outcome = 'disabled';
      nextAttemptAt = now;
    } else {
      const delay = (this.#policies.get(integration.name) as RetryPolicy).nextDelay(delivery.attempts + 1, {
        ageMs: now - delivery.cycleStartedAt,
        ...(verdict.retryAfterMs === undefined ? {} : { retryAfterMs: verdict.retryAfterMs }),
      });
      if (delay === undefined) {
        status = 'dead';
        outcome = 'dead';
      } else {
        status = 'pending';
        outcome = 'retry';
        nextAttemptAt = now + delay;
      }
    }
    const error = verdict.kind === 'success' ? null : maskText(verdict.reason, integration.sink.secrets());
    const attempt: DeliveryAttempt = {
      deliveryId: delivery.deliveryId,
      attempt: attemptNo,
      trigger: delivery.trigger,
      startedAt,
      durationMs: now - startedAt,
      method: response.method,
      url: response.url,
      requestHeaders: response.requestHeaders,
      status: response.status ?? null,
      response: response.body ?? null,
      error,
      outcome,
      nextAttemptAt,
    };
    const streak = await this.#settle({ owner: this.#options.owner, status, nextAttemptAt, integrationSucceeded: verdict.kind === 'success', attempt }, now);
    if (!streak) {
      this.#log.warn(this.#context(delivery, attemptNo, outcome), 'delivery lease was lost before the attempt settled; another worker owns it now');
      return;
    }
    this.#options.onAttempt?.(attempt, integration.name, delivery);
    if (this.#log.isLevelEnabled('debug')) this.#log.debug({ ...this.#context(delivery, attemptNo, outcome), status: response.status, error }, 'delivery attempt');
    // The settled copy and the log context are built only when used: an object per delivery shows at thousands a second.
    const lastStatus = response.status ?? null;

    if (verdict.kind === 'disable') {
      await this.#disable(integration, verdict.reason);
    } else if (verdict.kind !== 'success' && integration.autoDisable && streak.failingSince !== null) {
      const { afterMs, minFailures } = integration.autoDisable;
      if (streak.consecutiveFailures >= minFailures && now - streak.failingSince >= afterMs) {
        await this.#disable(integration, `failing without a success since ${new Date(streak.failingSince).toISOString()} (${streak.consecutiveFailures} attempts in a row)`);
      }
    }
    try {
      if (status === 'succeeded' && integration.onSuccess) await integration.onSuccess(this.#settled(delivery, { status, nextAttemptAt, lastError: error, lastStatus, updatedAt: now }));
      if (status === 'failed' || status === 'dead') {
        this.#log.warn({ ...this.#context(delivery, attemptNo, outcome), error }, status === 'dead' ? 'delivery out of retries: dead letter' : 'delivery failed');
        await integration.onFailure?.(this.#settled(delivery, { status, nextAttemptAt, lastError: error, lastStatus, updatedAt: now }), error ?? 'failed');
      }
    } catch (callbackError) {
      this.#log.error({ ...this.#context(delivery, attemptNo, outcome), err: callbackError }, 'integration callback threw');
    }
  }

  #context(delivery: Delivery, attempt: number, outcome: AttemptOutcome) {
    return { deliveryId: delivery.deliveryId, integration: delivery.integration, eventId: delivery.eventId, key: delivery.key, attempt, outcome };
  }

  /** The delivery as the attempt left it, for the integration's callbacks. */
  #settled(delivery: Delivery, after: Pick<Delivery, 'status' | 'nextAttemptAt' | 'lastError' | 'lastStatus' | 'updatedAt'>): Delivery {
    return { ...delivery, ...after, attempts: delivery.attempts + 1, totalAttempts: delivery.totalAttempts + 1 };
  }

  /** Group commit: the attempts that finish in the same tick settle in one transaction. */
  #settle(settlement: AttemptSettlement, now: number): Promise<{ failingSince: number | null; consecutiveFailures: number } | undefined> {
    return new Promise((resolve, reject) => {
      this.#settling.push({ settlement, resolve, reject });
      if (this.#settling.length > 1) return;
      setImmediate(() => {
        const batch = this.#settling.splice(0);
        this.#store.settleAttempts(
          batch.map((b) => b.settlement),
          now,
        ).then(
          (streaks) => batch.forEach((b, i) => b.resolve(streaks[i])),
          (error: unknown) => batch.forEach((b) => b.reject(error)),
        );
      });
    });
  }

  async #disable(integration: Integration, reason: string): Promise<void> {
    const now = this.#options.clock();
    const previous = await this.#store.setIntegrationState(integration.name, 'disabled', reason, now);
    if (previous === 'disabled') return;
    this.#log.error({ integration: integration.name, reason }, `integration ${integration.name} disabled: ${reason}`);
    this.#options.onAlert?.({ kind: 'integration.disabled', integration: integration.name, reason, at: new Date(now) });
  }

  /** Folds every closed digest window into its one delivery. */
  async closeDigests(): Promise<void> {
    const now = this.#options.clock();
    for (const integration of this.#integrations.values()) {
      const digest = integration.digest;
      if (!digest) continue;
      for (let window: DigestWindow | undefined; (window = await this.#store.takeDigestWindow(integration.name, digest.windowMs, now)); ) {
        const start = new Date(window.windowStart);
        const end = new Date(window.windowStart + digest.windowMs);
        const base = {
          deliveryId: `digest_${integration.name}_${window.windowStart}`,
          integration: integration.name,
          kind: 'digest' as const,
          entity: window.items[0]?.entity ?? '',
          key: '*',
          eventId: `window:${start.toISOString()}`,
          version: null,
          createdAt: now,
        };
        let delivery: NewDelivery;
        try {
          const folded = digest.fold(window.items.map((i) => i.item), { start, end });
          delivery = isSkip(folded) ? { ...base, request: undefined, status: 'ignored', reason: folded.skip } : { ...base, request: folded, status: 'pending' };
        } catch (error) {
          delivery = { ...base, request: undefined, status: 'failed', reason: `digest fold threw: ${error instanceof Error ? error.message : String(error)}` };
        }
        await this.#store.commitDigest(window, delivery);
      }
    }
  }
}
