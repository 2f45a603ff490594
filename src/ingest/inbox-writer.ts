// Group commit for the inbox. Concurrent ingest calls submit their events; one
// transaction per tick writes them all, then every caller gets its answer. An
// event is only acknowledged after the commit that holds it returned. When a
// group's commit fails, it is split and committed again in halves, so an event
// the store cannot write fails alone and its neighbours are still accepted.
import type { InboxStore } from '../store/inbox-store.js';
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
  | { many: true; events: NewInboxEvent[]; resolve: (outcomes: Array<AcceptOutcome | Error>) => void; reject: (error: unknown) => void };

/** What became of each event of a group: its outcome, or the error of the smallest commit that held it. */
type Settled = Array<AcceptOutcome | Error>;

export class InboxWriter {
  readonly #store: InboxStore;
  readonly #maxBatch: number;
  readonly #onAccepted: () => void;
  #pending: Pending[] = [];
  #scheduled = false;
  #flushing: Promise<void> = Promise.resolve();

  constructor(store: InboxStore, options: InboxWriterOptions = {}) {
    this.#store = store;
    this.#maxBatch = options.maxBatch ?? 2000;
    this.#onAccepted = options.onAccepted ?? (() => undefined);
  }

  submit(event: NewInboxEvent): Promise<AcceptOutcome> {
    return new Promise((resolve, reject) => this.#enqueue({ many: false, events: [event], resolve, reject }));
  }

  /**
   * Commits the events, in order; one outcome each, or the Error that kept that event out of the
   * inbox (the others are still committed). One promise for the lot: a bulk request of a
   * thousand events costs one waiter, not a thousand.
   */
  submitMany(events: NewInboxEvent[]): Promise<Array<AcceptOutcome | Error>> {
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
      const events = batch.length === 1 ? (batch[0] as Pending).events : batch.flatMap((p) => p.events);
      const settled = await this.#commit(events);
      let from = 0;
      for (const p of batch) {
        if (!p.many) {
          const outcome = settled[from] as AcceptOutcome | Error;
          if (outcome instanceof Error) p.reject(outcome);
          else p.resolve(outcome);
        } else {
          p.resolve(batch.length === 1 ? settled : settled.slice(from, from + p.events.length));
        }
        from += p.events.length;
      }
      if (settled.some((o) => !(o instanceof Error) && o.status === 'accepted')) this.#onAccepted();
    }
  }

  /**
   * Commits the events in one transaction; if it fails, commits each half on its own, in order,
   * down to single events. A failed transaction keeps none of its events, so each event ends up
   * committed exactly once or answered with the error of the commit that held it alone. One bad
   * event among n costs about 2·log2(n) more commits; a store that refuses everything (a full
   * disk) costs 2n, and each caller still hears why.
   */
  async #commit(events: NewInboxEvent[]): Promise<Settled> {
    try {
      return await this.#store.accept(events);
    } catch (error) {
      if (events.length === 1) return [error instanceof Error ? error : new Error(String(error))];
      const half = Math.ceil(events.length / 2);
      const first = await this.#commit(events.slice(0, half));
      return first.concat(await this.#commit(events.slice(half)));
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
