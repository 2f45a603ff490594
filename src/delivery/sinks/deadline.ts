// Hard deadlines for outbound requests, shared between requests that end at
// about the same moment: one timer per slot of deadlines, not one per request.
// `AbortSignal.timeout` per request cost about 30 µs of CPU each (a weak timer,
// a finalizer, an event target), a third of a whole delivery; listening to a
// shared signal still cost an event listener per request. A slot here is a set
// of callbacks.

/** Something with a deadline: a request that has not ended yet. */
export interface Expiring {
  expire(): void;
}

/** The slot a deadline was put in: deleting from it (the request ended in time) cancels it. */
export interface Slot {
  delete(item: Expiring): boolean;
}

export interface Deadlines {
  /**
   * Calls `item.expire()` no sooner than `timeoutMs` from now, and at most a twentieth of
   * `timeoutMs` (and 1 s) later: the slack lets neighbours share a timer. The timer does not
   * keep the process alive. (The item is its own callback: no closure per request.)
   */
  after(timeoutMs: number, item: Expiring): Slot;
}

export function deadlines(): Deadlines {
  const slots = new Map<number, Set<Expiring>>();
  return {
    after(timeoutMs, item) {
      const slack = Math.max(1, Math.min(1000, Math.floor(timeoutMs / 20)));
      const now = Date.now();
      // Round the deadline up to its slot's end: never earlier than asked, at most `slack` later.
      const end = Math.ceil((now + timeoutMs) / slack) * slack;
      let slot = slots.get(end);
      if (!slot) {
        const due = new Set<Expiring>();
        slots.set(end, due);
        setTimeout(() => {
          slots.delete(end);
          for (const expiring of due) expiring.expire();
        }, end - now).unref();
        slot = due;
      }
      slot.add(item);
      return slot;
    },
  };
}
