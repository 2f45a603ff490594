// The health part of the Store port: the registry of the hub's processes and
// their beats, the release of what a dead process held, and the monitors of
// outside services with their transitions. Every state change is a
// compare-and-set, so with many processes each change (and its
// announcements) is written by exactly one of them.
import type {
  Announcer,
  LoopHealth,
  MonitorKind,
  MonitorRow,
  MonitorTransition,
  Observation,
  ProcessInfo,
  ProcessRow,
  ReleasedLeases,
  TransitionRequest,
} from './health-types.js';

/** The monitor that stands for one of the hub's own processes. */
export const processMonitorName = (processId: string): string => `process:${processId}`;

export interface HealthStore {
  /**
   * Registers the process as `up` at the database's clock, or brings it back up after it was
   * declared down (a process that lost its leases registers again to go on). Its monitor
   * (`process:<id>`) goes up with it: `new` → `up` silently, `down` → `up` announced.
   */
  registerProcess(info: ProcessInfo, announce: Announcer): Promise<ProcessRow>;
  /**
   * Records a beat and the loops' states at the database's clock, only while the process is
   * `up`. `fenced` when it is not: another process declared it down and freed its leases, so
   * whatever it holds in hand must not be committed (the lease checks refuse it anyway).
   */
  beat(id: string, loops: readonly LoopHealth[]): Promise<{ now: number; fenced: boolean }>;
  /**
   * A graceful stop: the process is `stopped`, every lease it holds is freed at once (keys,
   * deliveries, source runs, which end `interrupted`) and its monitor is paused, unannounced.
   */
  stopProcess(id: string): Promise<ReleasedLeases>;
  /**
   * Declares `down` every `up` process whose last beat is older than `silentMs` by the database's
   * clock and frees what it held; each is claimed by one statement, so among many callers exactly
   * one returns it, and its monitor's `up` → `down` transition is written (and announced) once.
   */
  reapSilent(silentMs: number, announce: Announcer): Promise<Array<{ process: ProcessRow; released: ReleasedLeases }>>;
  /** Every process not ended before `endedAfter` (epoch ms), newest first, and the database's clock now. */
  listProcesses(endedAfter: number): Promise<{ now: number; processes: ProcessRow[] }>;
  /** Forgets processes that ended before `endedBefore`, and their monitors and transitions. Returns how many. */
  pruneProcesses(endedBefore: number): Promise<number>;

  /** Makes sure every configured monitor has a row (new ones start `new`); updates the kind of existing ones. */
  registerMonitors(monitors: ReadonlyArray<{ name: string; kind: MonitorKind }>, now: number): Promise<void>;
  listMonitors(): Promise<MonitorRow[]>;
  getMonitor(name: string): Promise<MonitorRow | undefined>;
  /**
   * Claims the monitor's next check: moves `nextCheckAt` to `now + intervalMs` when it is due (or
   * unset) and the monitor is not paused. False when it is not due or another process took it.
   */
  claimCheck(name: string, now: number, intervalMs: number): Promise<boolean>;
  /**
   * Writes what a check or a push beat found (`observed`, `observedSince` when it changed, last
   * check, message, details) without changing the state. Undefined for an unknown monitor.
   */
  observe(observation: Observation): Promise<MonitorRow | undefined>;
  /**
   * Compare-and-set: when the monitor is in `request.from`, moves it to `request.to` (since
   * `at`), writes the transition row and, when `request.announce`, the deliveries `announce`
   * makes for it and `lastAnnouncedAt`; all in one transaction. Undefined (nothing written) when
   * the monitor was not in `from`: another process changed it first.
   */
  transition(request: TransitionRequest, announce: Announcer): Promise<MonitorTransition | undefined>;
  /**
   * A reminder while `state` holds: when the monitor is still in `state` and was last announced
   * at or before `now - everyMs`, writes the deliveries `announce` makes for its latest transition
   * (`reminder: true`) and moves `lastAnnouncedAt` to `now`. False when not due or taken.
   */
  remind(name: string, state: MonitorRow['state'], now: number, everyMs: number, announce: Announcer): Promise<boolean>;
  /** Transitions of the monitor at or after `since` (epoch ms) that the service caused (not pauses, resumes or first checks), for flapping. */
  countTransitions(name: string, since: number): Promise<number>;
  /** Newest first; `before` is a transition id (the cursor). */
  listTransitions(name: string, query: { before?: number; limit: number }): Promise<MonitorTransition[]>;
}
