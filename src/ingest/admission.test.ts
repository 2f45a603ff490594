import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Admission } from './admission.js';

function admission(maxBacklog: number, queued: { n: number }) {
  const clock = { now: 0 };
  const gate = new Admission({ maxBacklog, count: async () => queued.n, log: pino({ level: 'silent' }), clock: () => clock.now });
  return { gate, clock };
}

describe('admission', () => {
  it('frees room when a count shows events applied by another process', async () => {
    const queued = { n: 0 };
    const { gate, clock } = admission(2, queued);
    await gate.resync();
    expect(gate.admit(3)).toBe(2);
    queued.n = 2;
    expect(gate.admit(1)).toBe(0);

    queued.n = 0;
    clock.now = 999;
    await gate.resync(); // within resyncMs of the last count: an explicit resync still counts
    expect(gate.status()).toEqual({ maxBacklog: 2, backlog: 0, engaged: false, refused: 2 });
    expect(gate.admit(1)).toBe(1);
  });

  it('counts again on its own at most every resyncMs while events arrive', async () => {
    const queued = { n: 0 };
    let counts = 0;
    const clock = { now: 0 };
    const gate = new Admission({ maxBacklog: 100, count: async () => (counts += 1, queued.n), log: pino({ level: 'silent' }), clock: () => clock.now });
    for (let i = 0; i < 50; i += 1) gate.admit(1);
    await Promise.resolve();
    expect(counts).toBe(1);
    clock.now = 1000;
    gate.admit(1);
    await Promise.resolve();
    expect(counts).toBe(2);
  });

  it('once engaged, refuses until the backlog is under 90% of the limit', async () => {
    const { gate } = admission(20, { n: 20 });
    await gate.resync();
    expect(gate.admit(1)).toBe(0);
    gate.applied(1);
    // 19 waiting: room for one, but refusing until 18 so the answer does not flap at the boundary
    expect(gate.admit(1)).toBe(0);
    gate.applied(1);
    expect(gate.admit(1)).toBe(1);
    expect(gate.status()).toEqual({ maxBacklog: 20, backlog: 19, engaged: false, refused: 2 });
  });
});
