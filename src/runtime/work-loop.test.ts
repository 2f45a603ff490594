import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { WorkLoop } from './work-loop.js';

describe('WorkLoop', () => {
  it('runs steps back to back while they ask for no nap, and naps as long as a step asks', async () => {
    const at: number[] = [];
    const loop = new WorkLoop(async () => (at.push(performance.now()), at.length < 3 ? 0 : 60_000));
    loop.start();
    loop.start(); // a second start is a no-op, not a second loop
    await sleep(50);
    expect(at).toHaveLength(3);
    const stopping = performance.now();
    await loop.stop();
    // stop() cuts the long nap short.
    expect(performance.now() - stopping).toBeLessThan(1_000);
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
    await sleep(20);
    expect(rounds).toBe(1);
    loop.wake();
    await sleep(20);
    // The wake ended the first nap; the one kept from round 2 ended the second at once.
    expect(rounds).toBe(3);
    await loop.stop();
  });

  it('stop waits for the step in hand to finish, and runs no other', async () => {
    let finished = 0;
    let started = 0;
    const loop = new WorkLoop(async () => {
      started += 1;
      await sleep(50);
      finished += 1;
      return 0;
    });
    loop.start();
    await sleep(10);
    await loop.stop();
    expect({ started, finished }).toEqual({ started: 1, finished: 1 });
  });
});

describe('WorkLoop, the edges', () => {
  it('lets timers and I/O run between steps that ask for no nap, even when a step never waits on I/O', async () => {
    let rounds = 0;
    let roundsWhenTimerRan: number | undefined;
    const loop = new WorkLoop(async () => ((rounds += 1), rounds < 1_000 ? 0 : 60_000));
    setTimeout(() => (roundsWhenTimerRan = rounds), 0);
    loop.start();
    await sleep(100);
    await loop.stop();
    expect(rounds).toBe(1_000);
    // Without a yield between steps, the timer would only run once all 1,000 rounds were done.
    expect(roundsWhenTimerRan).toBeLessThan(1_000);
  });

  it('a start while a stop is under way runs one loop at a time, and that stop resolves', async () => {
    let inStep = 0;
    let overlapped = false;
    let steps = 0;
    const loop = new WorkLoop(async () => {
      inStep += 1;
      if (inStep > 1) overlapped = true;
      steps += 1;
      await sleep(20);
      inStep -= 1;
      return 0;
    });
    loop.start();
    await sleep(5);
    const stopping = loop.stop();
    loop.start();
    await stopping;
    await sleep(60);
    expect(steps).toBeGreaterThan(1);
    await loop.stop();
    expect(overlapped).toBe(false);
  });

  it('stop before start and start after stop work; a step that throws naps and goes on', async () => {
    let steps = 0;
    const loop = new WorkLoop(async () => {
      steps += 1;
      if (steps === 1) throw new Error('boom');
      return 60_000;
    });
    await loop.stop();
    loop.start();
    await sleep(20);
    expect(steps).toBe(1); // napping after the throw, not spinning
    loop.wake();
    await sleep(20);
    expect(steps).toBe(2);
    await loop.stop();
    loop.start();
    await sleep(20);
    expect(steps).toBe(3);
    await loop.stop();
  });
});
