// Group commit for the inbox. Concurrent ingest calls submit their events; one
// transaction per tick writes them all, then every caller gets its answer. An
// event is only acknowledged after the commit that holds it returned.
import type { Store } from '../store/store.js';
import type { AcceptOutcome, NewInboxEvent } from '../store/types.js';

export interface InboxWriterOptions {
  /**
   * Most events written in one transaction.
   * @defaultValue 2000
   */
  maxBatch?: number;
  /** Called after each commit that accepted at least one new event. */
  onAccepted?: () => void;
}

interface Pending {
  event: NewInboxEvent;
  resolve: (outcome: AcceptOutcome) => void;
  reject: (error: unknown) => void;
}

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
    return new Promise((resolve, reject) => {
      this.#pending.push({ event, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#flushing = this.#flushing.then(() => this.#flush());
        });
      }
    });
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
      const batch = this.#pending.splice(0, this.#maxBatch);
      try {
        const outcomes = await this.#store.accept(batch.map((p) => p.event));
        batch.forEach((p, i) => p.resolve(outcomes[i] as AcceptOutcome));
        if (outcomes.some((o) => o.status === 'accepted')) this.#onAccepted();
      } catch (error) {
        // The transaction rolled back: none of these events is kept, and each caller hears so.
        for (const p of batch) p.reject(error);
      }
    }
  }
}
