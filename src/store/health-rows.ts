// Health rows as both SQL drivers keep them (processes, monitors, transitions),
// the shapes of the port they become, and the decisions on them that are not a
// driver's business: how a process's monitor moves when it registers, is
// declared down or stops, and what those transitions say.
import type { LoopHealth, MonitorKind, MonitorRow, MonitorState, MonitorTransition, ObservedState, ProcessRow, ProcessState, ReleasedLeases, TransitionRequest } from './health-types.js';
import { processMonitorName } from './health-store.js';

export interface ProcessRowDb {
  id: string;
  host: string;
  pid: number;
  roles: string;
  version: string;
  state: ProcessState;
  started_at: number;
  last_beat_at: number;
  ended_at: number | null;
  loops: string;
}

export const toProcess = (r: ProcessRowDb): ProcessRow => ({
  id: r.id,
  host: r.host,
  pid: r.pid,
  roles: JSON.parse(r.roles) as string[],
  version: r.version,
  state: r.state,
  startedAt: r.started_at,
  lastBeatAt: r.last_beat_at,
  endedAt: r.ended_at,
  loops: JSON.parse(r.loops) as LoopHealth[],
});

export interface MonitorRowDb {
  name: string;
  kind: MonitorKind;
  state: MonitorState;
  since: number;
  observed: ObservedState | null;
  observed_since: number | null;
  last_check_at: number | null;
  last_message: string | null;
  last_details: string | null;
  next_check_at: number | null;
  last_announced_at: number | null;
  updated_at: number;
}

export const toMonitor = (r: MonitorRowDb): MonitorRow => ({
  name: r.name,
  kind: r.kind,
  state: r.state,
  since: r.since,
  observed: r.observed,
  observedSince: r.observed_since,
  lastCheckAt: r.last_check_at,
  lastMessage: r.last_message,
  lastDetails: parseDetails(r.last_details),
  nextCheckAt: r.next_check_at,
  lastAnnouncedAt: r.last_announced_at,
  updatedAt: r.updated_at,
});

export interface TransitionRowDb {
  id: number;
  monitor: string;
  from_state: MonitorState;
  to_state: MonitorState;
  at: number;
  message: string | null;
  details: string | null;
  /** BOOLEAN on PostgreSQL, 0/1 on SQLite. */
  announced: boolean | number;
}

export const toTransition = (r: TransitionRowDb): MonitorTransition => ({
  id: r.id,
  monitor: r.monitor,
  from: r.from_state,
  to: r.to_state,
  at: r.at,
  message: r.message,
  details: parseDetails(r.details),
  announced: Boolean(r.announced),
});

/** Details travel as JSON text; none (undefined or null) is SQL NULL and reads back as null. */
export const detailsText = (details: unknown): string | null => (details === undefined || details === null ? null : JSON.stringify(details));
const parseDetails = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

/** The transition a written request stands for, once its row has an id. */
export const transitionOf = (id: number, r: TransitionRequest): MonitorTransition => ({
  id,
  monitor: r.monitor,
  from: r.from,
  to: r.to,
  at: r.at,
  message: r.message,
  details: r.details ?? null,
  announced: r.announce,
});

export const NOTHING_RELEASED: ReleasedLeases = { keys: 0, deliveries: 0, sources: 0 };

/** Why the source runs of a process that lost its leases ended. */
export const interruptedBecause = (how: 'down' | 'stopped'): string =>
  how === 'down' ? 'its process was declared down (it stopped beating) and its lease was freed' : 'its process stopped before the run ended';

/**
 * How a process's monitor goes up when the process registers: `new` → `up` unannounced (a start
 * is no news), `down` → `up` announced (it was announced down), any other state (paused after a
 * stop) unannounced. Undefined when it is up already.
 */
export function processUp(p: ProcessRow, from: MonitorState): TransitionRequest | undefined {
  if (from === 'up') return undefined;
  return {
    monitor: processMonitorName(p.id),
    from,
    to: 'up',
    observed: 'up',
    at: p.lastBeatAt,
    message: from === 'down' ? `${processName(p)} is beating again` : `${processName(p)} started`,
    details: { host: p.host, pid: p.pid, roles: p.roles, version: p.version },
    announce: from === 'down',
  };
}

/** The announced `up` → `down` of a process declared down at `p.endedAt` after its last beat. */
export function processDown(p: ProcessRow): TransitionRequest {
  const at = p.endedAt ?? p.lastBeatAt;
  const silentMs = at - p.lastBeatAt;
  return {
    monitor: processMonitorName(p.id),
    from: 'up',
    to: 'down',
    observed: 'down',
    at,
    message: `${processName(p)} sent no beat for ${(silentMs / 1000).toFixed(1)}s: declared down, its leases freed`,
    details: { host: p.host, pid: p.pid, lastBeatAt: p.lastBeatAt, silentMs },
    announce: true,
  };
}

/** The unannounced pause of a process's monitor when the process stops gracefully (from whatever state it was in). */
export function processStopped(p: ProcessRow, from: MonitorState): TransitionRequest | undefined {
  if (from === 'paused') return undefined;
  return {
    monitor: processMonitorName(p.id),
    from,
    to: 'paused',
    observed: null,
    at: p.endedAt ?? p.lastBeatAt,
    message: `${processName(p)} stopped`,
    details: null,
    announce: false,
  };
}

const processName = (p: Pick<ProcessRow, 'host' | 'pid'>): string => `process ${p.pid} on ${p.host}`;

/**
 * The transitions that say a service changed, for flapping: an operator's pause and resume, and a
 * first check after them (`new` → …), are not the service's doing.
 */
export const COUNTS_TOWARD_FLAPPING = `from_state NOT IN ('new', 'paused') AND to_state <> 'paused'`;
