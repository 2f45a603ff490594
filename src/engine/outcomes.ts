// Tells whoever waits (an ingest call with `metadata.wait`) what became of an
// event once its batch committed. The processor of this process publishes
// here directly; outcomes committed by other processes (PostgreSQL) arrive as
// notifications, and the hub looks the waited-for ones up and publishes them.
import type { ParkedKey, ProcessedResult } from '../store/types.js';

/** What became of an event; `name` is its event name (for metrics, never part of an answer). */
export type EventResult =
  | { eventId: string; name: string; status: 'processed'; result: ProcessedResult }
  | { eventId: string; name: string; status: 'parked'; entity: string; key: string; error: ParkedKey['error'] };

export class OutcomeBus {
  readonly #waiting = new Map<string, Set<(result: EventResult) => void>>();

  /** The ids of `eventIds` someone waits for now; all waited-for ids without an argument. */
  waitingFor(eventIds?: readonly string[]): string[] {
    if (this.#waiting.size === 0) return [];
    return eventIds ? eventIds.filter((id) => this.#waiting.has(id)) : [...this.#waiting.keys()];
  }

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
