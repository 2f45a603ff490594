// Runs the configured monitors: every tick it claims the http checks that are
// due (one process of many gets each), runs them side by side (one in flight
// per monitor), writes what they found and decides; it also judges push
// monitors by the time since their last beat, and sends reminders. Beats,
// pauses and resumes come in through the API. Every write is a
// compare-and-set in the store, so processes racing to the same decision
// write it once. The hub's own processes (`process:<id>`) are the process
// registry's business, not this one's.
import type { Logger } from 'pino';
import type { Agent } from 'undici';
import { LoopHealthTracker } from '../runtime/loop-health.js';
import { WorkLoop } from '../runtime/work-loop.js';
import { outboundAgent } from '../security/outbound-agent.js';
import { defaultOutboundPolicy, type OutboundPolicy } from '../security/outbound-policy.js';
import type { HealthStore } from '../store/health-store.js';
import type { Announcer, LoopHealth, MonitorRow } from '../store/health-types.js';
import { checkHttp } from './http-check.js';
import type { HttpMonitor, Monitor } from './monitor.js';
import { decide, flappingWindowStart, seenOf } from './monitor-state.js';

export interface MonitorRunnerOptions {
  /** How often due checks, lateness and reminders are looked at. @defaultValue 250 */
  tickMs?: number;
  clock?: () => number;
  /** Where http checks may connect. @defaultValue the defaults of `outboundSchema` (loopback allowed) */
  outbound?: OutboundPolicy;
}

export interface PushBeat {
  status: 'ok' | 'error';
  message?: string;
  details?: unknown;
}

/** Changes of state tried again when another writer changed the monitor in between. */
const CAS_ATTEMPTS = 5;

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

export class MonitorRunner {
  readonly #store: HealthStore;
  readonly #monitors: ReadonlyMap<string, Monitor>;
  readonly #announce: Announcer;
  readonly #log: Logger;
  readonly #tickMs: number;
  readonly #clock: () => number;
  readonly #policy: OutboundPolicy;
  readonly #loop = new WorkLoop(() => this.#tick());
  readonly #health: LoopHealthTracker;
  readonly #inflight = new Map<string, Promise<void>>();
  /** What went wrong outside the tick itself (a check's writes) since the last tick. */
  #troubles: string[] = [];
  #agent: Agent | undefined;
  /** Push monitors are not late for the time before this process listened: beats had nowhere to go. */
  #listeningSince: number;

  constructor(store: HealthStore, monitors: readonly Monitor[], announce: Announcer, log: Logger, options: MonitorRunnerOptions = {}) {
    this.#store = store;
    this.#monitors = new Map(monitors.map((m) => [m.name, m]));
    this.#announce = announce;
    this.#log = log;
    this.#tickMs = options.tickMs ?? 250;
    this.#clock = options.clock ?? Date.now;
    this.#policy = options.outbound ?? defaultOutboundPolicy;
    this.#health = new LoopHealthTracker('monitors', this.#clock);
    this.#listeningSince = this.#clock();
  }

  /** Makes sure every configured monitor has its row (new ones start `new`). */
  async register(): Promise<void> {
    const now = this.#clock();
    await this.#store.registerMonitors([...this.#monitors.values()].map(({ name, kind }) => ({ name, kind })), now);
  }

  start(): void {
    this.#listeningSince = this.#clock();
    this.#agent ??= outboundAgent(() => this.#policy);
    this.#loop.start();
  }

  /** Stops ticking and waits for the checks in flight. */
  async stop(): Promise<void> {
    await this.#loop.stop();
    await Promise.allSettled([...this.#inflight.values()]);
    const agent = this.#agent;
    this.#agent = undefined;
    await agent?.close();
  }

  wake(): void {
    this.#loop.wake();
  }

  health(): LoopHealth {
    return this.#health.read();
  }

  /** A push monitor's beat: what it says is an observation, then a decision. */
  async beat(name: string, beat: PushBeat): Promise<'recorded' | 'unknown' | 'not-push'> {
    const monitor = this.#monitors.get(name);
    if (!monitor) return 'unknown';
    if (monitor.kind !== 'push') return 'not-push';
    const now = this.#clock();
    const row = await this.#store.observe({ monitor: name, observed: beat.status === 'ok' ? 'up' : 'error', at: now, message: beat.message ?? null, details: beat.details ?? null });
    if (!row) return 'unknown';
    // The beat is kept; if deciding fails here, the next tick decides.
    await this.#settle(monitor, row, now).catch((error: unknown) => this.#trouble(name, error));
    return 'recorded';
  }

  /** Pauses a configured monitor (unannounced); undefined when there is no such monitor. */
  pause(name: string): Promise<MonitorRow | undefined> {
    return this.#move(name, (row) => (row.state === 'paused' ? undefined : row.state), 'paused', 'paused by an operator');
  }

  /** Resumes a paused monitor as `new`: its next check (or beat, or lateness) decides and announces. */
  async resume(name: string): Promise<MonitorRow | undefined> {
    const row = await this.#move(name, (r) => (r.state === 'paused' ? 'paused' : undefined), 'new', 'resumed by an operator');
    this.wake();
    return row;
  }

  /** An unannounced change from the state `from` picks (undefined: already there), retried if another writer came first. */
  async #move(name: string, from: (row: MonitorRow) => MonitorRow['state'] | undefined, to: MonitorRow['state'], message: string): Promise<MonitorRow | undefined> {
    if (!this.#monitors.has(name)) return undefined;
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt += 1) {
      const row = await this.#store.getMonitor(name);
      const state = row && from(row);
      if (!row || state === undefined) return row;
      const moved = await this.#store.transition({ monitor: name, from: state, to, observed: row.observed, at: this.#clock(), message, details: null, announce: false }, this.#announce);
      if (moved) return this.#store.getMonitor(name);
    }
    throw new Error(`monitor "${name}" kept changing: could not move it to ${to}`);
  }

  async #tick(): Promise<number> {
    if (this.#monitors.size === 0) {
      this.#health.ok('no monitors configured');
      return this.#tickMs;
    }
    const now = this.#clock();
    let rows: MonitorRow[];
    try {
      rows = await this.#store.listMonitors();
    } catch (error) {
      this.#log.error({ err: error }, 'could not read the monitors; retrying');
      this.#health.trouble('error', `could not read the monitors: ${describe(error)}`);
      return this.#tickMs;
    }
    for (const row of rows) {
      const monitor = this.#monitors.get(row.name);
      if (!monitor || row.state === 'paused' || this.#inflight.has(row.name)) continue;
      if (monitor.kind === 'http' && (row.nextCheckAt === null || row.nextCheckAt <= now)) this.#check(monitor, now);
      else await this.#settle(monitor, row, now).catch((error: unknown) => this.#trouble(row.name, error));
    }
    const troubles = this.#troubles;
    this.#troubles = [];
    if (troubles.length === 0) this.#health.ok();
    else this.#health.trouble('degraded', troubles.length === 1 ? (troubles[0] as string) : `${troubles[0]} (and ${troubles.length - 1} more)`);
    return this.#tickMs;
  }

  /** Claims the check, runs it without holding up the tick, writes what it found and decides. */
  #check(monitor: HttpMonitor, now: number): void {
    const agent = this.#agent;
    if (!agent) return;
    const run = (async () => {
      if (!(await this.#store.claimCheck(monitor.name, now, monitor.intervalMs))) return;
      const result = await checkHttp(monitor, agent);
      const at = this.#clock();
      const row = await this.#store.observe({ monitor: monitor.name, observed: result.observed, at, message: result.message, details: result.details });
      if (row) await this.#settle(monitor, row, at);
    })()
      .catch((error: unknown) => this.#trouble(monitor.name, error))
      .finally(() => this.#inflight.delete(monitor.name));
    this.#inflight.set(monitor.name, run);
  }

  /** Decides from the row as it is now and writes the decision. */
  async #settle(monitor: Monitor, row: MonitorRow, now: number): Promise<void> {
    const seen = seenOf(row, monitor, now, this.#listeningSince);
    const windowStart = flappingWindowStart(row, monitor, seen, now);
    const recentTransitions = windowStart === undefined ? 0 : await this.#store.countTransitions(monitor.name, windowStart);
    const decision = decide({ row, monitor, seen, recentTransitions, now });
    if (decision.kind === 'remind') {
      await this.#store.remind(monitor.name, decision.state, now, monitor.remindEveryMs ?? 0, this.#announce);
    } else if (decision.kind === 'transition') {
      const { from, to, observed, announce } = decision;
      // A push monitor gone quiet says why itself; otherwise the last check or beat does.
      const message = decision.message ?? row.lastMessage;
      const details = decision.message === null ? row.lastDetails : { lastBeatAt: row.lastCheckAt };
      const written = await this.#store.transition({ monitor: monitor.name, from, to, observed, at: now, message, details, announce }, this.#announce);
      if (written) this.#log.info({ monitor: monitor.name, from, to, message, announced: announce }, `monitor ${monitor.name}: ${from} → ${to}`);
    }
  }

  #trouble(name: string, error: unknown): void {
    this.#log.error({ err: error, monitor: name }, 'monitor check or decision failed; the next tick tries again');
    this.#troubles.push(`monitor "${name}": ${describe(error)}`);
  }
}
