// Shared deadline signals: never earlier than asked, shared by requests that
// end in the same slot, and they do abort.
import { describe, expect, it } from 'vitest';
import { deadlines } from './deadline.js';

describe('deadlines', () => {
  it('hands requests ending in the same slot one signal, and a later slot another', () => {
    let now = 1_000_001;
    const slots = deadlines(() => now);
    // 1000 ms deadlines fall in 50 ms slots.
    const first = slots.signal(1000);
    now += 10;
    expect(slots.signal(1000)).toBe(first);
    now += 50;
    const later = slots.signal(1000);
    expect(later).not.toBe(first);
  });

  it('aborts with a TimeoutError no sooner than asked', async () => {
    const started = Date.now();
    const signal = deadlines().signal(60);
    expect(signal.aborted).toBe(false);
    const reason = await new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(59);
    expect(reason).toMatchObject({ name: 'TimeoutError' });
  });

  it('lets a slot go once it fired: the next request gets a fresh signal', async () => {
    const slots = deadlines();
    const fired = slots.signal(20);
    await new Promise((resolve) => fired.addEventListener('abort', resolve, { once: true }));
    const next = slots.signal(20);
    expect(next).not.toBe(fired);
    expect(next.aborted).toBe(false);
  });
});
