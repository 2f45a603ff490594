// Group commit for the inbox. Concurrent ingest calls submit their events; one
// transaction per tick writes them all, then every caller gets its answer. An
// event is only acknowledged after the commit that holds it returned.
import type { Store } from '../store/store.js';
import type { AcceptOutcome, NewInboxEvent } from '../store/types.js';

export interface InboxWriterOptions {
  /**
   * Most events written in one transaction. One `submitMany` call is never split, so its
   * transaction may hold more.
   * @defaultValue 2000
   */
  maxBatch?: number;
  /** Called after each commit that accepted at least one new event. */
  onAccepted?: () => void;
}

/**
 * One caller's events, answered together: a single event (`submit`) or a bulk request's
 * share (`submitMany`). No closure per caller: under tsx every named arrow function costs
 * an Object.defineProperty, which showed in the bulk profile.
 */
type Pending =
  | { many: false; events: [NewInboxEvent]; resolve: (outcome: AcceptOutcome) => void; reject: (error: unknown) => void }
  | { many: true; events: NewInboxEvent[]; resolve: (outcomes: AcceptOutcome[]) => void; reject: (error: unknown) => void };

export class InboxWriter {
  readonly #store: Store;
  readonly #maxBatch: number;
  readonly #onAccepted: () => void;
  #pending: Pending[] = [];
  #scheduled = false;
  #flushing: Promise<void> = Promise.resolve();

  constructor(store: Store, options: InboxWriterOptions = {}) {
    this.#store = store;
    this.#maxBatch = options.maxBatch ?? 2000;
    this.#onAccepted = options.onAccepted ?? (() => undefined);
  }

  submit(event: NewInboxEvent): Promise<AcceptOutcome> {
    return new Promise((resolve, reject) => this.#enqueue({ many: false, events: [event], resolve, reject }));
  }

  /**
   * Commits the events in one transaction, in order; one outcome each. One promise for the
   * lot: a bulk request of a thousand events costs one waiter, not a thousand.
   */
  submitMany(events: NewInboxEvent[]): Promise<AcceptOutcome[]> {
    if (events.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => this.#enqueue({ many: true, events, resolve, reject }));
  }

  #enqueue(pending: Pending): void {
    this.#pending.push(pending);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#flushing = this.#flushing.then(() => this.#flush());
      });
    }
  }

  /** Resolves once everything submitted so far is committed (or failed). */
  async drain(): Promise<void> {
    while (this.#pending.length > 0 || this.#scheduled) {
      await new Promise((resolve) => setImmediate(resolve));
      await this.#flushing;
    }
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    while (this.#pending.length > 0) {
      const batch = this.#takeBatch();
      try {
        const outcomes = await this.#store.accept(batch.length === 1 ? (batch[0] as Pending).events : batch.flatMap((p) => p.events));
        let from = 0;
        for (const p of batch) {
          if (!p.many) p.resolve(outcomes[from] as AcceptOutcome);
          else p.resolve(batch.length === 1 ? outcomes : outcomes.slice(from, from + p.events.length));
          from += p.events.length;
        }
        if (outcomes.some((o) => o.status === 'accepted')) this.#onAccepted();
      } catch (error) {
        // The transaction rolled back: none of these events is kept, and each caller hears so.
        for (const p of batch) p.reject(error);
      }
    }
  }

  /** Whole submissions, in order, up to maxBatch events (at least one submission). */
  #takeBatch(): Pending[] {
    let count = 0;
    let n = 0;
    while (n < this.#pending.length && (n === 0 || count + (this.#pending[n] as Pending).events.length <= this.#maxBatch)) {
      count += (this.#pending[n] as Pending).events.length;
      n += 1;
    }
    return this.#pending.splice(0, n);
  }
}
