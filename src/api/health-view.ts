// One view of the hub's health, shared by `GET /api/v1/health` and `confluo
// status`: every process with its loops, every monitor (configured ones too,
// before their first check) with its state, and one overall word.
import type { Monitor } from '../health/monitor.js';
import type { HealthStore } from '../store/health-store.js';
import type { MonitorRow, MonitorState, ProcessRow } from '../store/health-types.js';
import { iso } from './iso.js';

/** Processes that ended this long ago still show (a crash stays visible for an hour). */
export const SHOW_ENDED_MS = 3_600_000;

export type OverallStatus = 'up' | 'degraded' | 'down';

const DOWN_STATES: ReadonlySet<MonitorState> = new Set(['down', 'error']);
const DEGRADED_STATES: ReadonlySet<MonitorState> = new Set(['late', 'degraded', 'flapping']);

export const processBody = (p: ProcessRow) => ({
  id: p.id,
  host: p.host,
  pid: p.pid,
  roles: p.roles,
  version: p.version,
  state: p.state,
  startedAt: iso(p.startedAt),
  lastBeatAt: iso(p.lastBeatAt),
  endedAt: iso(p.endedAt),
  loops: p.loops.map((l) => ({ name: l.name, status: l.status, lastTickAt: iso(l.lastTickAt), message: l.message })),
});

/** What the config says of a monitor, shown beside its state. */
function configBody(monitor: Monitor | undefined) {
  if (!monitor) return { configured: false };
  if (monitor.kind === 'http') {
    // The URL's path and query may carry a token: only where it goes is shown.
    return { configured: true, target: new URL(monitor.url).origin, intervalMs: monitor.intervalMs, timeoutMs: monitor.timeoutMs, slowMs: monitor.slowMs ?? null };
  }
  return { configured: true, intervalMs: monitor.intervalMs, graceMs: monitor.graceMs };
}

export const monitorBody = (row: MonitorRow | undefined, monitor: Monitor | undefined, name: string) => ({
  name,
  kind: row?.kind ?? monitor?.kind,
  state: row?.state ?? 'new',
  since: iso(row?.since ?? null),
  observed: row?.observed ?? null,
  lastBeatAt: iso(row?.lastCheckAt ?? null),
  lastMessage: row?.lastMessage ?? null,
  nextCheckAt: iso(row?.nextCheckAt ?? null),
  ...configBody(monitor),
});

/**
 * Every monitor worth listing, sorted by name: those the config defines (checked yet or not) and
 * those recorded (one removed from the config stays listed). The processes' own monitors are left
 * out: they are shown as processes.
 */
export function monitorBodies(rows: readonly MonitorRow[], monitors: readonly Monitor[]) {
  const recorded = new Map(rows.filter((r) => r.kind !== 'process').map((r) => [r.name, r]));
  const configured = new Map(monitors.map((m) => [m.name, m]));
  const names = [...new Set([...configured.keys(), ...recorded.keys()])].sort();
  return names.map((name) => monitorBody(recorded.get(name), configured.get(name), name));
}

export function overallStatus(processes: readonly ProcessRow[], monitors: ReadonlyArray<{ state: MonitorState }>): OverallStatus {
  const loops = processes.filter((p) => p.state === 'up').flatMap((p) => p.loops);
  if (processes.some((p) => p.state === 'down') || monitors.some((m) => DOWN_STATES.has(m.state))) return 'down';
  if (loops.some((l) => l.status !== 'ok') || monitors.some((m) => DEGRADED_STATES.has(m.state))) return 'degraded';
  return 'up';
}

/**
 * The whole view: processes (live, and those ended within the last hour), then monitors of outside
 * services. With `configKnown`, a monitor no longer in the config is listed but not counted in the
 * overall status (it is nobody's alarm any more); without a config, every recorded monitor counts.
 */
export async function healthView(store: HealthStore, monitors: readonly Monitor[], options: { configKnown: boolean } = { configKnown: true }) {
  const [{ now, processes }, rows] = await Promise.all([store.listProcesses(Date.now() - SHOW_ENDED_MS), store.listMonitors()]);
  const listed = monitorBodies(rows, monitors);
  return {
    status: overallStatus(processes, options.configKnown ? listed.filter((m) => m.configured) : listed),
    at: iso(now),
    processes: processes.map(processBody),
    monitors: listed,
  };
}

export type HealthView = Awaited<ReturnType<typeof healthView>>;
