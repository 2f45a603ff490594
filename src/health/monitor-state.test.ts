// The decisions of a monitor, given its row and what it is seen doing: which
// change is announced, when flapping starts and settles, when a push monitor
// is late or down, when a reminder is due.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MonitorRow, MonitorState, ObservedState } from '../store/health-types.js';
import { defineMonitor } from './monitor.js';
import { decide, flappingWindowStart, seenOf, type Decision } from './monitor-state.js';

const T0 = 1_700_000_000_000;
const WINDOW = 60_000;
const http = defineMonitor({ name: 'crm', kind: 'http', url: 'http://127.0.0.1:1/health', intervalMs: 1000, flapping: { transitions: 3, windowMs: WINDOW }, remindEveryMs: 30_000 });
const push = defineMonitor({ name: 'job', kind: 'push', intervalMs: 10_000, graceMs: 5000 });

const row = (extra: Partial<MonitorRow> = {}): MonitorRow => ({
  name: 'crm',
  kind: 'http',
  state: 'new',
  since: T0,
  observed: null,
  observedSince: null,
  lastCheckAt: null,
  lastMessage: null,
  lastDetails: null,
  nextCheckAt: null,
  lastAnnouncedAt: null,
  updatedAt: T0,
  ...extra,
});

/** The decision for an http monitor whose last check found `observed` at `at`. */
const afterCheck = (state: MonitorState, observed: ObservedState, at: number, recentTransitions = 0, extra: Partial<MonitorRow> = {}): Decision => {
  const r = row({ state, observed, observedSince: at, lastCheckAt: at, ...extra });
  return decide({ row: r, monitor: http, seen: seenOf(r, http, at, T0), recentTransitions, now: at });
};

describe('changes of state', () => {
  it('goes from new to up without announcing it, and announces any other first finding', () => {
    expect(afterCheck('new', 'up', T0 + 1)).toMatchObject({ kind: 'transition', from: 'new', to: 'up', announce: false });
    expect(afterCheck('new', 'down', T0 + 1)).toMatchObject({ kind: 'transition', from: 'new', to: 'down', announce: true });
  });

  it('announces each change, and nothing while the state holds', () => {
    expect(afterCheck('up', 'down', T0 + 1)).toMatchObject({ kind: 'transition', from: 'up', to: 'down', announce: true });
    expect(afterCheck('down', 'up', T0 + 1)).toMatchObject({ kind: 'transition', from: 'down', to: 'up', announce: true });
    expect(afterCheck('degraded', 'degraded', T0 + 1)).toEqual({ kind: 'none' });
  });

  it('decides nothing for a paused monitor, whatever it is seen doing', () => {
    for (const observed of ['up', 'down', 'error'] as const) expect(afterCheck('paused', observed, T0 + 1)).toEqual({ kind: 'none' });
  });

  it('after a resume, waits for a check made since: the one before the pause is stale', () => {
    const resumed = row({ state: 'new', since: T0 + 5000, observed: 'down', observedSince: T0, lastCheckAt: T0 + 1000 });
    expect(seenOf(resumed, http, T0 + 6000, T0)).toBeUndefined();
    expect(decide({ row: resumed, monitor: http, seen: undefined, recentTransitions: 0, now: T0 + 6000 })).toEqual({ kind: 'none' });
    expect(seenOf({ ...resumed, lastCheckAt: T0 + 5500 }, http, T0 + 6000, T0)).toMatchObject({ observed: 'down' });
  });
});

describe('push monitors', () => {
  const beaten = (at: number, observed: ObservedState = 'up') => row({ name: 'job', kind: 'push', state: 'up', observed, observedSince: at, lastCheckAt: at });

  it('are what their last beat said while beats come on time', () => {
    expect(seenOf(beaten(T0), push, T0 + 9999, T0)).toMatchObject({ observed: 'up' });
    expect(seenOf(beaten(T0, 'error'), push, T0 + 9999, T0)).toMatchObject({ observed: 'error' });
  });

  it('are late after the interval and down after the grace, and say for how long there was no beat', () => {
    expect(seenOf(beaten(T0), push, T0 + 10_000, T0)).toEqual({ observed: 'late', since: T0 + 10_000, message: 'no beat for 10 s (expected every 10 s)' });
    expect(seenOf(beaten(T0), push, T0 + 15_000, T0)).toEqual({ observed: 'down', since: T0 + 15_000, message: 'no beat for 15 s (expected every 10 s)' });
  });

  it('count lateness from when this process started listening: beats sent while no hub ran were lost', () => {
    const restarted = T0 + 3_600_000;
    expect(seenOf(beaten(T0), push, restarted + 9000, restarted)).toMatchObject({ observed: 'up' });
    expect(seenOf(beaten(T0), push, restarted + 10_000, restarted)).toMatchObject({ observed: 'late' });
  });

  it('before any beat, count from registration', () => {
    const fresh = row({ name: 'job', kind: 'push' });
    expect(seenOf(fresh, push, T0 + 5000, T0)).toBeUndefined();
    expect(seenOf(fresh, push, T0 + 10_000, T0)).toMatchObject({ observed: 'late', message: 'no beat yet (expected every 10 s)' });
  });
});

describe('flapping', () => {
  it('is where a change goes when it would be one more than allowed in the window, announced', () => {
    const at = T0 + 1000;
    expect(flappingWindowStart(row({ state: 'up', observed: 'down', observedSince: at, lastCheckAt: at }), http, { observed: 'down', since: at, message: null }, at)).toBe(at - WINDOW);
    expect(afterCheck('up', 'down', at, 2)).toMatchObject({ kind: 'transition', to: 'down' });
    expect(afterCheck('up', 'down', at, 3)).toMatchObject({ kind: 'transition', from: 'up', to: 'flapping', observed: 'down', announce: true });
  });

  it('needs no count when no change is ahead, or flapping is off', () => {
    const stable = row({ state: 'up', observed: 'up', observedSince: T0, lastCheckAt: T0 });
    expect(flappingWindowStart(stable, http, seenOf(stable, http, T0, T0), T0)).toBeUndefined();
    const noFlapping = defineMonitor({ name: 'crm', kind: 'http', url: 'http://127.0.0.1:1/', intervalMs: 1000, flapping: false });
    const changing = row({ state: 'up', observed: 'down', observedSince: T0, lastCheckAt: T0 });
    expect(flappingWindowStart(changing, noFlapping, seenOf(changing, noFlapping, T0, T0), T0)).toBeUndefined();
    expect(decide({ row: changing, monitor: noFlapping, seen: seenOf(changing, noFlapping, T0, T0), recentTransitions: 100, now: T0 })).toMatchObject({ to: 'down' });
  });

  it('stays silent until what is seen has held for the whole window, then announces where it settled', () => {
    const changedAt = T0 + 10_000;
    expect(afterCheck('flapping', 'down', changedAt + WINDOW - 1, 0, { observedSince: changedAt })).toEqual({ kind: 'none' });
    expect(afterCheck('flapping', 'down', changedAt + WINDOW, 0, { observedSince: changedAt })).toMatchObject({ kind: 'transition', from: 'flapping', to: 'down', announce: true });
  });
});

describe('reminders', () => {
  it('come every remindEveryMs while a bad state holds, counted from the last announcement', () => {
    expect(afterCheck('down', 'down', T0 + 29_999, 0, { since: T0, lastAnnouncedAt: T0 })).toEqual({ kind: 'none' });
    expect(afterCheck('down', 'down', T0 + 30_000, 0, { since: T0, lastAnnouncedAt: T0 })).toEqual({ kind: 'remind', state: 'down' });
  });

  it('never come for up, new, paused or flapping', () => {
    for (const state of ['up', 'flapping'] as const) {
      const observed = state === 'flapping' ? 'down' : state;
      expect(afterCheck(state, observed, T0 + 100_000, 0, { since: T0, lastAnnouncedAt: T0, observedSince: T0 + 99_000 })).toEqual({ kind: 'none' });
    }
  });
});

/**
 * A run of checks against a model of the store's rules (compare-and-set is moot with one writer):
 * what a run of observations announces.
 */
function simulate(observations: ObservedState[], monitor = http) {
  let r = row();
  const transitions: Array<{ at: number; from: MonitorState; to: MonitorState; announce: boolean }> = [];
  let now = T0;
  for (const observed of observations) {
    now += monitor.intervalMs;
    r = { ...r, observed, observedSince: r.observed === observed ? r.observedSince : now, lastCheckAt: now };
    const seen = seenOf(r, monitor, now, T0);
    const start = flappingWindowStart(r, monitor, seen, now);
    const recent = start === undefined ? 0 : transitions.filter((t) => t.at >= start).length;
    const decision = decide({ row: r, monitor, seen, recentTransitions: recent, now });
    if (decision.kind === 'transition') {
      expect(decision.from).toBe(r.state);
      transitions.push({ at: now, from: decision.from, to: decision.to, announce: decision.announce });
      r = { ...r, state: decision.to, since: now, lastAnnouncedAt: decision.announce ? now : r.lastAnnouncedAt };
    }
  }
  return { row: r, transitions, now };
}

describe('any run of observations', () => {
  const observations = fc.array(fc.constantFrom<ObservedState>('up', 'down', 'error', 'degraded'), { maxLength: 300 });

  it('announces at most transitions + 2 changes in any window, and never new → up', () => {
    fc.assert(
      fc.property(observations, (seq) => {
        const { transitions } = simulate(seq);
        const announced = transitions.filter((t) => t.announce);
        expect(transitions.some((t) => t.announce && t.from === 'new' && t.to === 'up')).toBe(false);
        expect(transitions.some((t) => !t.announce && !(t.from === 'new' && t.to === 'up'))).toBe(false);
        for (const first of announced) {
          const inWindow = announced.filter((t) => t.at >= first.at && t.at < first.at + WINDOW);
          expect(inWindow.length).toBeLessThanOrEqual((http.flapping ? http.flapping.transitions : 0) + 2);
        }
      }),
    );
  });

  it('settles on what is seen once it holds for the window', () => {
    fc.assert(
      fc.property(observations, fc.constantFrom<ObservedState>('up', 'down', 'error'), (seq, last) => {
        const steady = Array.from({ length: WINDOW / http.intervalMs + 1 }, () => last);
        const { row: settled, transitions } = simulate([...seq, ...steady]);
        expect(settled.state).toBe(last);
        // Never two flapping announcements without a settling between them.
        const flapping = transitions.filter((t) => t.to === 'flapping' || t.from === 'flapping').map((t) => t.to === 'flapping');
        expect(flapping.every((entering, i) => entering === (i % 2 === 0))).toBe(true);
      }),
    );
  });
});
