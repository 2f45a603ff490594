// Hard deadlines for outbound requests, shared between requests that end at
// about the same moment. `AbortSignal.timeout` per request cost about 30 µs of
// CPU each (a weak timer, a finalizer, an event target), a third of a whole
// delivery; a signal per slot of deadlines costs one such timer per slot.
import { setMaxListeners } from 'node:events';

export interface Deadlines {
  /**
   * A signal that aborts with a `TimeoutError` no sooner than `timeoutMs` from now, and at
   * most a twentieth of `timeoutMs` (and 1 s) later: the slack lets neighbours share it.
   */
  signal(timeoutMs: number): AbortSignal;
}

export function deadlines(clock: () => number = Date.now): Deadlines {
  const slots = new Map<number, AbortSignal>();
  return {
    signal(timeoutMs) {
      const slack = Math.max(1, Math.min(1000, Math.floor(timeoutMs / 20)));
      const now = clock();
      // Round the deadline up to its slot's end: never earlier than asked, at most `slack` later.
      const end = Math.ceil((now + timeoutMs) / slack) * slack;
      let signal = slots.get(end);
      if (!signal) {
        signal = AbortSignal.timeout(end - now);
        // Any number of requests may listen to one slot's signal.
        setMaxListeners(0, signal);
        slots.set(end, signal);
        signal.addEventListener('abort', () => slots.delete(end), { once: true });
      }
      return signal;
    },
  };
}
