// Naps run on vitest's fake clock, so "still napping" is checked by moving the
// clock, not by hoping a real sleep is long enough on a loaded machine. The
// loop's yield between steps (node:timers/promises setImmediate) stays real.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WorkLoop } from './work-loop.js';

/** A step's own work taking `ms` on the fake clock. */
const work = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise and the function that resolves it. */
function signal(): { reached: Promise<void>; reach: () => void } {
  let reach!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  return { reached, reach };
}

/** Whether `promise` has settled once what is due at the current fake time has run. */
async function settledNow(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(() => (settled = true));
  await vi.advanceTimersByTimeAsync(0);
  return settled;
}

describe('WorkLoop', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs steps back to back while they ask for no nap, and naps as long as a step asks', async () => {
    const at: number[] = [];
    const third = signal();
    const loop = new WorkLoop(async () => {
      at.push(performance.now());
      if (at.length < 3) return 0;
      third.reach();
      return 60_000;
    });
    loop.start();
    loop.start(); // a second start is a no-op, not a second loop
    await third.reached;
    await vi.advanceTimersByTimeAsync(59_999);
    expect(at).toHaveLength(3);
    // stop() cuts the long nap short: it resolves with the clock still short of the nap's end.
    expect(await settledNow(loop.stop())).toBe(true);
    expect(at).toHaveLength(3);
  });

  it('a wake ends a nap, and a wake during a step is kept for the next nap', async () => {
    let rounds = 0;
    const loop: WorkLoop = new WorkLoop(async () => {
      rounds += 1;
      if (rounds === 2) loop.wake(); // arrives while no nap is under way
      return 60_000;
    });
    loop.start();
    await vi.advanceTimersByTimeAsync(59_999);
    expect(rounds).toBe(1);
    loop.wake();
    await vi.advanceTimersByTimeAsync(0);
    // The wake ended the first nap; the one kept from round 2 ended the second at once.
    expect(rounds).toBe(3);
    await vi.advanceTimersByTimeAsync(59_999);
    expect(rounds).toBe(3); // the kept wake was used up: the third nap runs its course
    await loop.stop();
  });

  it('stop waits for the step in hand to finish, and runs no other', async () => {
    let finished = 0;
    let started = 0;
    const loop = new WorkLoop(async () => {
      started += 1;
      await work(50);
      finished += 1;
      return 0;
    });
    loop.start();
    await vi.advanceTimersByTimeAsync(10);
    const stopping = loop.stop();
    expect(await settledNow(stopping)).toBe(false); // the step is 40 ms from its end
    await vi.advanceTimersByTimeAsync(40);
    await stopping;
    expect({ started, finished }).toEqual({ started: 1, finished: 1 });
    await vi.advanceTimersByTimeAsync(200);
    expect(started).toBe(1);
  });
});

describe('WorkLoop, the edges', () => {
  afterEach(() => vi.useRealTimers());

  it('lets timers and I/O run between steps that ask for no nap, even when a step never waits on I/O', async () => {
    // Real timers: the test is about a real timer getting its turn.
    let rounds = 0;
    let roundsWhenTimerRan: number | undefined;
    const last = signal();
    const loop = new WorkLoop(async () => {
      rounds += 1;
      if (rounds < 1_000) return 0;
      last.reach();
      return 60_000;
    });
    setTimeout(() => (roundsWhenTimerRan = rounds), 0);
    loop.start();
    await last.reached;
    await loop.stop();
    expect(rounds).toBe(1_000);
    // Without a yield between steps, the timer would only run once all 1,000 rounds were done.
    expect(roundsWhenTimerRan).toBeLessThan(1_000);
  });

  it('a start while a stop is under way runs one loop at a time, and that stop resolves', async () => {
    vi.useFakeTimers();
    let inStep = 0;
    let overlapped = false;
    let steps = 0;
    const second = signal();
    const loop = new WorkLoop(async () => {
      inStep += 1;
      if (inStep > 1) overlapped = true;
      steps += 1;
      if (steps === 2) second.reach();
      await work(20);
      inStep -= 1;
      return 0;
    });
    loop.start();
    await vi.advanceTimersByTimeAsync(5);
    const stopping = loop.stop();
    loop.start();
    await vi.advanceTimersByTimeAsync(15);
    await stopping;
    await second.reached;
    expect(steps).toBeGreaterThan(1);
    const stopped = loop.stop();
    await vi.advanceTimersByTimeAsync(20);
    await stopped;
    expect(overlapped).toBe(false);
  });

  it('stop before start and start after stop work; a step that throws naps and goes on', async () => {
    vi.useFakeTimers();
    let steps = 0;
    const loop = new WorkLoop(async () => {
      steps += 1;
      if (steps === 1) throw new Error('boom');
      return 60_000;
    });
    await loop.stop();
    loop.start();
    await vi.advanceTimersByTimeAsync(500);
    expect(steps).toBe(1); // napping after the throw, not spinning
    loop.wake();
    await vi.advanceTimersByTimeAsync(0);
    expect(steps).toBe(2);
    await loop.stop();
    loop.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(steps).toBe(3);
    await loop.stop();
  });
});
