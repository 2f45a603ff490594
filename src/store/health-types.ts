// The rows the store keeps to watch moving parts: the hub's own processes with
// the state of their loops, the monitors of outside services, and every
// change of a monitor's state (a transition).
import type { NewDelivery } from './delivery-types.js';

/** How a loop of a process is doing, as it said at its last tick. */
export type LoopStatus = 'ok' | 'degraded' | 'error';

export interface LoopHealth {
  /** `ingest`, `processor`, `dispatcher`, `sources`, `monitors`. */
  name: string;
  status: LoopStatus;
  /** When the loop last finished a round (epoch ms, the process's clock); null before its first. */
  lastTickAt: number | null;
  message: string | null;
}

export interface ProcessInfo {
  /** Unique per run of a process; the owner of every lease the process takes. */
  id: string;
  host: string;
  pid: number;
  roles: readonly string[];
  version: string;
}

/** `up`: beating; `down`: declared dead by another process (its leases freed); `stopped`: stopped gracefully. */
export type ProcessState = 'up' | 'down' | 'stopped';

export interface ProcessRow extends ProcessInfo {
  state: ProcessState;
  /** Database clock, epoch ms. */
  startedAt: number;
  lastBeatAt: number;
  /** When it was declared down or stopped. */
  endedAt: number | null;
  loops: LoopHealth[];
}

/** What a process held and was made to let go of. */
export interface ReleasedLeases {
  keys: number;
  deliveries: number;
  sources: number;
}

export type MonitorKind = 'http' | 'push' | 'process';

/**
 * `new`: not yet checked; `up`; `late`: a push beat is overdue but within its grace; `degraded`:
 * answered, slowly; `error`: answered, saying it is failing; `down`: no answer (or no beat after
 * the grace); `paused`: an operator paused it; `flapping`: it changed too often to announce each.
 */
export type MonitorState = 'new' | 'up' | 'late' | 'degraded' | 'error' | 'down' | 'paused' | 'flapping';
export const MONITOR_STATES: readonly MonitorState[] = ['new', 'up', 'late', 'degraded', 'error', 'down', 'paused', 'flapping'];

/** What one check (or the absence of a beat) found; the state it points to before flapping and pausing. */
export type ObservedState = Exclude<MonitorState, 'new' | 'paused' | 'flapping'>;

export interface MonitorRow {
  name: string;
  kind: MonitorKind;
  /** The state announced to people. */
  state: MonitorState;
  /** Since when `state` holds (epoch ms). */
  since: number;
  /** What the last check found, even while `flapping` or `paused`; null before the first. */
  observed: ObservedState | null;
  observedSince: number | null;
  /** Last check (http), last beat received (push), last process beat (process). */
  lastCheckAt: number | null;
  lastMessage: string | null;
  /** Extra detail of the last check or beat (status code, duration, a push beat's `details`). */
  lastDetails: unknown;
  /** When the next http check is due; a check slot is claimed by moving it (one checker across processes). */
  nextCheckAt: number | null;
  /** Last announcement (transition or reminder), for `remindEveryMs`. */
  lastAnnouncedAt: number | null;
  updatedAt: number;
}

export interface MonitorTransition {
  /** Increasing; the cursor of the transitions list. */
  id: number;
  monitor: string;
  from: MonitorState;
  to: MonitorState;
  at: number;
  message: string | null;
  details: unknown;
  /** False when nobody was told: `new` → `up`, changes while paused or flapping. */
  announced: boolean;
}

/** A state change to write when the monitor is still in `from` (compare-and-set: one writer wins). */
export interface TransitionRequest {
  monitor: string;
  from: MonitorState;
  to: MonitorState;
  /** What the check found (kept in `observed`); for a pause or resume, the current observation. */
  observed: ObservedState | null;
  at: number;
  message: string | null;
  details: unknown;
  announce: boolean;
}

/** What a check found, written without a change of state. */
export interface Observation {
  monitor: string;
  observed: ObservedState;
  at: number;
  message: string | null;
  details: unknown;
}

/**
 * Makes the deliveries that announce a transition (or a reminder, `reminder: true`), written in
 * the transaction that records it: a transition and its announcements commit together, once.
 */
export type Announcer = (transition: MonitorTransition, reminder: boolean) => NewDelivery[];
