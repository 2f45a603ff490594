// The decisions of a monitor, without effects: from its row, its config, what
// it is seen doing now and how often it changed lately, what to write. The
// runner does the writing (compare-and-set, so many processes may decide the
// same thing and one wins).
//
// Rules: each change of what is seen is a transition, announced, except
// `new` → `up`. A paused monitor decides nothing. More than N transitions in
// the flapping window go to `flapping`, announced once; then silence until
// what is seen has held for the whole window, and one announcement of where
// it settled. While a state other than `new`, `up`, `paused` or `flapping`
// holds, a reminder every `remindEveryMs`.
import type { MonitorRow, MonitorState, ObservedState } from '../store/health-types.js';
import { formatDuration } from './http-check.js';
import type { Monitor, PushMonitor } from './monitor.js';

/** What a monitor is seen doing, and since when. */
export interface Seen {
  observed: ObservedState;
  since: number;
  /** Why, when it is not what the last check or beat wrote (a push monitor gone quiet). */
  message: string | null;
}

export type Decision =
  | { kind: 'none' }
  | { kind: 'transition'; from: MonitorState; to: MonitorState; observed: ObservedState; message: string | null; announce: boolean }
  | { kind: 'remind'; state: MonitorState };

const NONE: Decision = Object.freeze({ kind: 'none' });

/**
 * A push monitor's lateness, from its last beat (or, before any, since it was registered): `late`
 * after `intervalMs`, `down` after `intervalMs + graceMs`. Counted from `listeningSince` at the
 * latest (when this process started listening): beats sent while no hub ran were lost, and a
 * restart must not call every push monitor down.
 */
function pushSeen(row: MonitorRow, monitor: PushMonitor, now: number, listeningSince: number): Seen | undefined {
  const lastBeat = row.lastCheckAt;
  const from = Math.max(lastBeat ?? row.since, listeningSince);
  const downAt = from + monitor.intervalMs + monitor.graceMs;
  const lateAt = from + monitor.intervalMs;
  const quiet = lastBeat === null ? 'no beat yet' : `no beat for ${formatDuration(now - lastBeat)}`;
  const expected = `(expected every ${formatDuration(monitor.intervalMs)})`;
  if (now >= downAt) return { observed: 'down', since: downAt, message: `${quiet} ${expected}` };
  if (now >= lateAt) return { observed: 'late', since: lateAt, message: `${quiet} ${expected}` };
  if (row.observed === null || row.observed === 'late' || row.observed === 'down') return undefined; // on time, but no beat read yet
  return { observed: row.observed, since: row.observedSince ?? row.since, message: null };
}

/**
 * What the monitor is seen doing now, or undefined when nothing is known yet. An http monitor is
 * what its last check found; after a resume (`new` again) only a check made since counts.
 */
export function seenOf(row: MonitorRow, monitor: Monitor, now: number, listeningSince: number): Seen | undefined {
  if (monitor.kind === 'push') return pushSeen(row, monitor, now, listeningSince);
  if (row.observed === null || row.lastCheckAt === null) return undefined;
  if (row.state === 'new' && row.lastCheckAt < row.since) return undefined;
  return { observed: row.observed, since: row.observedSince ?? row.lastCheckAt, message: null };
}

/**
 * Since when transitions count toward flapping, when `decide` will need that count (a change is
 * ahead and flapping is on); undefined when it will not: no need to ask the store.
 */
export function flappingWindowStart(row: MonitorRow, monitor: Monitor, seen: Seen | undefined, now: number): number | undefined {
  if (!monitor.flapping || !seen || row.state === 'paused' || row.state === 'flapping' || row.state === seen.observed) return undefined;
  return now - monitor.flapping.windowMs;
}

export interface DecideInput {
  row: MonitorRow;
  monitor: Monitor;
  seen: Seen | undefined;
  /** Transitions since `flappingWindowStart` (0 when it said none are needed). */
  recentTransitions: number;
  now: number;
}

const QUIET: ReadonlySet<MonitorState> = new Set(['new', 'up', 'paused', 'flapping']);

export function decide({ row, monitor, seen, recentTransitions, now }: DecideInput): Decision {
  if (row.state === 'paused' || !seen) return NONE;
  const message = seen.message;
  if (row.state === 'flapping') {
    if (!monitor.flapping || now - seen.since >= monitor.flapping.windowMs) {
      return { kind: 'transition', from: 'flapping', to: seen.observed, observed: seen.observed, message, announce: true };
    }
    return NONE;
  }
  if (row.state !== seen.observed) {
    // This change would be one more in the window: past the limit, it is flapping instead.
    if (monitor.flapping && row.state !== 'new' && recentTransitions + 1 > monitor.flapping.transitions) {
      return { kind: 'transition', from: row.state, to: 'flapping', observed: seen.observed, message, announce: true };
    }
    return { kind: 'transition', from: row.state, to: seen.observed, observed: seen.observed, message, announce: !(row.state === 'new' && seen.observed === 'up') };
  }
  if (monitor.remindEveryMs === undefined || QUIET.has(row.state)) return NONE;
  return now - (row.lastAnnouncedAt ?? row.since) >= monitor.remindEveryMs ? { kind: 'remind', state: row.state } : NONE;
}
