// Tells whoever waits (an ingest call with `metadata.wait`) what became of an
// event once its batch committed. In-process only; a waiter also re-reads the
// store, so an outcome committed by another process is still seen.
import type { ParkedKey, ProcessedResult } from '../store/types.js';

export type EventResult = { eventId: string; status: 'processed'; result: ProcessedResult } | { eventId: string; status: 'parked'; entity: string; key: string; error: ParkedKey['error'] };

export class OutcomeBus {
  readonly #waiting = new Map<string, Set<(result: EventResult) => void>>();

  publish(results: readonly EventResult[]): void {
    if (this.#waiting.size === 0) return;
    for (const result of results) {
      const listeners = this.#waiting.get(result.eventId);
      if (!listeners) continue;
      this.#waiting.delete(result.eventId);
      for (const listener of listeners) listener(result);
    }
  }

  /**
   * Resolves with the event's result, or undefined after `timeoutMs`. `check` runs once
   * after the listener is in place, to catch a result committed before the wait began.
   */
  wait(eventId: string, timeoutMs: number, check: () => Promise<EventResult | undefined>): Promise<EventResult | undefined> {
    return new Promise((resolve) => {
      let listeners = this.#waiting.get(eventId);
      if (!listeners) this.#waiting.set(eventId, (listeners = new Set()));
      const done = (result: EventResult | undefined) => {
        clearTimeout(timer);
        listeners.delete(done);
        if (listeners.size === 0 && this.#waiting.get(eventId) === listeners) this.#waiting.delete(eventId);
        resolve(result);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      listeners.add(done);
      check().then(
        (result) => result && done(result),
        () => undefined,
      );
    });
  }
}
