// Admission control for incoming events: past `maxBacklog` events waiting to be
// applied, new ones are refused (`:error` OVERLOADED with `retryAfterMs`) and
// nothing is stored for them, so a hub that cannot keep up says so instead of
// growing its inbox without bound. Once engaged it stays so until the backlog
// is under 90% of the limit: one warning and one all-clear per episode, not a
// flap at the boundary.
//
// The check costs a comparison per request: the backlog is an estimate (the
// last count from the store, plus events admitted here, minus events applied
// here) that a fresh count corrects every `resyncMs`; events applied or pulled
// by other processes show up at that count.
import type { Logger } from 'pino';
import { EventError } from '../protocol/event-error.js';

export interface AdmissionOptions {
  /** Most events waiting to be applied before new ones are refused. */
  maxBacklog: number;
  /** Counts the events waiting to be applied (`InboxStore.queued`). */
  count: () => Promise<number>;
  log: Logger;
  /** Longest time between two counts while events arrive. @defaultValue 1000 */
  resyncMs?: number;
  /** What a refusal tells the sender to wait before trying again. @defaultValue 1000 */
  retryAfterMs?: number;
  clock?: () => number;
}

export interface AdmissionStatus {
  maxBacklog: number;
  /** The current estimate of events waiting to be applied. */
  backlog: number;
  /** Whether new events are being refused. */
  engaged: boolean;
  /** Events refused since the hub started. */
  refused: number;
}

/** Below this share of the limit, an engaged admission takes events again. */
const RELEASE_AT = 0.9;

export class Admission {
  readonly #options: Required<Omit<AdmissionOptions, 'log' | 'count' | 'clock'>>;
  readonly #count: () => Promise<number>;
  readonly #log: Logger;
  readonly #clock: () => number;
  /** Totals since start; the estimate is the last count plus what changed since it began. */
  #admitted = 0;
  #applied = 0;
  #counted = 0;
  #admittedAtCount = 0;
  #appliedAtCount = 0;
  #countedAt = -Infinity;
  #counting = false;
  #engaged = false;
  #refused = 0;

  constructor(options: AdmissionOptions) {
    this.#options = { resyncMs: 1000, retryAfterMs: 1000, maxBacklog: options.maxBacklog };
    this.#count = options.count;
    this.#log = options.log;
    this.#clock = options.clock ?? Date.now;
  }

  /** How many of `n` new events may go in: the first ones, in order; the rest are refused. */
  admit(n: number): number {
    this.#resyncIfDue();
    this.#releaseIfDrained();
    const room = this.#engaged ? 0 : Math.max(0, this.#options.maxBacklog - this.#backlog());
    const admitted = Math.min(n, room);
    this.#admitted += admitted;
    if (admitted < n) this.#refuse(n - admitted);
    return admitted;
  }

  /** Events this process applied (or parked): they left the backlog. */
  applied(n: number): void {
    this.#applied += n;
  }

  /** The answer for a refused event. */
  overloaded(): EventError {
    return new EventError('error', 'OVERLOADED', { retryAfterMs: this.#options.retryAfterMs });
  }

  status(): AdmissionStatus {
    this.#resyncIfDue();
    this.#releaseIfDrained();
    return { maxBacklog: this.#options.maxBacklog, backlog: this.#backlog(), engaged: this.#engaged, refused: this.#refused };
  }

  /** Counts the backlog now; the hub does once at start so a restart on a full inbox refuses at once. */
  async resync(): Promise<void> {
    if (this.#counting) return;
    this.#counting = true;
    this.#countedAt = this.#clock();
    const admitted = this.#admitted;
    const applied = this.#applied;
    try {
      this.#counted = await this.#count();
      this.#admittedAtCount = admitted;
      this.#appliedAtCount = applied;
    } catch (error) {
      // The estimate stands until a count succeeds; the store's own errors are reported where it is used.
      this.#log.debug({ err: error }, 'could not count the inbox backlog');
    } finally {
      this.#counting = false;
    }
    this.#releaseIfDrained();
  }

  #backlog(): number {
    return Math.max(0, this.#counted + (this.#admitted - this.#admittedAtCount) - (this.#applied - this.#appliedAtCount));
  }

  #resyncIfDue(): void {
    if (!this.#counting && this.#clock() - this.#countedAt >= this.#options.resyncMs) void this.resync();
  }

  #refuse(n: number): void {
    this.#refused += n;
    if (this.#engaged) return;
    this.#engaged = true;
    const { maxBacklog, retryAfterMs } = this.#options;
    this.#log.warn({ maxBacklog, backlog: this.#backlog(), retryAfterMs }, `the inbox backlog reached ${maxBacklog}: refusing new events (OVERLOADED) until it drains`);
  }

  #releaseIfDrained(): void {
    if (!this.#engaged || this.#backlog() > this.#options.maxBacklog * RELEASE_AT) return;
    this.#engaged = false;
    this.#log.info({ maxBacklog: this.#options.maxBacklog, backlog: this.#backlog(), refused: this.#refused }, 'the inbox backlog drained: taking new events again');
  }
}
