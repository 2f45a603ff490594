// Shared deadlines: never earlier than asked, one timer for requests that end
// in the same slot, and a cancelled one is not called.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deadlines } from './deadline.js';

describe('deadlines', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gives requests ending in the same slot one timer, and a later slot another', () => {
    vi.useFakeTimers({ now: 1_000_001 });
    const slots = deadlines();
    const fired: string[] = [];
    // 1000 ms deadlines fall in 50 ms slots.
    slots.after(1000, { expire: () => fired.push('first') });
    vi.advanceTimersByTime(10);
    slots.after(1000, { expire: () => fired.push('same slot') });
    vi.advanceTimersByTime(50);
    slots.after(1000, { expire: () => fired.push('later slot') });
    expect(vi.getTimerCount()).toBe(2);
    vi.advanceTimersByTime(1000 - 60 + 49);
    expect(fired).toEqual(['first', 'same slot']);
    vi.advanceTimersByTime(60);
    expect(fired).toEqual(['first', 'same slot', 'later slot']);
  });

  it('calls back no sooner than asked', async () => {
    const started = performance.now();
    const at = await new Promise<number>((resolve) => deadlines().after(60, { expire: () => resolve(performance.now()) }));
    expect(at - started).toBeGreaterThanOrEqual(59);
  });

  it('does not call a cancelled deadline, and still calls its neighbours', () => {
    vi.useFakeTimers();
    const slots = deadlines();
    const fired: string[] = [];
    const cancelled = { expire: () => fired.push('cancelled') };
    slots.after(100, cancelled).delete(cancelled);
    slots.after(100, { expire: () => fired.push('kept') });
    vi.advanceTimersByTime(200);
    expect(fired).toEqual(['kept']);
  });

  it('lets a slot go once it fired: a later request in the same slot time gets a fresh timer', () => {
    vi.useFakeTimers();
    const slots = deadlines();
    const fired: number[] = [];
    slots.after(20, { expire: () => fired.push(1) });
    vi.advanceTimersByTime(25);
    slots.after(20, { expire: () => fired.push(2) });
    vi.advanceTimersByTime(25);
    expect(fired).toEqual([1, 2]);
  });
});
