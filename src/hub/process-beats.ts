// A process's heartbeat: it registers at start, beats every interval with the
// state of its loops, and, in every process, looks for processes that stopped
// beating. A silent process is declared down and what it held (keys being
// processed, deliveries being sent, source runs) is freed at once, so its work
// moves to a live process in seconds instead of after its leases run out.
// Time is the database's: hosts' clocks never decide who is dead.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { WorkLoop } from '../runtime/work-loop.js';
import type { HealthStore } from '../store/health-store.js';
import type { Announcer, LoopHealth, ProcessInfo } from '../store/health-types.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** Ended processes are listed for a day, then forgotten. */
const KEEP_ENDED_MS = 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;

/** An id people can read in `confluo status`: host, pid and a few random characters (pids are reused). */
export function newProcessId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export interface ProcessBeatsOptions {
  /** @defaultValue 1000 */
  intervalMs?: number;
  /** Intervals without a beat before a process is down. @defaultValue 3 */
  missedBeats?: number;
  /** Called when this process freed a dead one's work: the loops here should look for it now. */
  onReleased?: () => void;
}

export class ProcessBeats {
  readonly #store: HealthStore;
  readonly #info: ProcessInfo;
  readonly #loops: () => LoopHealth[];
  readonly #announce: Announcer;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #missedBeats: number;
  readonly #onReleased: () => void;
  readonly #loop = new WorkLoop(() => this.#round());
  /** When this process's beats started landing in a row (its clock); undefined while they fail. */
  #beatingSince: number | undefined;
  #lastBeatAt: number | undefined;
  #lastError: string | undefined;
  #prunedAt = 0;
  #registered = false;

  constructor(store: HealthStore, roles: readonly string[], loops: () => LoopHealth[], announce: Announcer, log: Logger, options: ProcessBeatsOptions & { id: string }) {
    this.#store = store;
    this.#info = { id: options.id, host: hostname(), pid: process.pid, roles: [...roles], version };
    this.#loops = loops;
    this.#announce = announce;
    this.#log = log;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#missedBeats = options.missedBeats ?? 3;
    this.#onReleased = options.onReleased ?? (() => undefined);
  }

  get id(): string {
    return this.#info.id;
  }

  /** How long a process may stay silent before it is down. */
  get silentMs(): number {
    return this.#intervalMs * this.#missedBeats;
  }

  /** Registers this process (so others see it at once) and starts beating. */
  async start(): Promise<void> {
    await this.#store.registerProcess(this.#info, this.#announce);
    this.#registered = true;
    this.#beatingSince = this.#lastBeatAt = Date.now();
    this.#loop.start();
  }

  /** Stops beating and hands back every lease this process still holds. */
  async stop(): Promise<void> {
    await this.#loop.stop();
    if (!this.#registered) return;
    this.#registered = false;
    try {
      const released = await this.#store.stopProcess(this.#info.id);
      if (released.keys + released.deliveries + released.sources > 0) this.#log.info({ released }, 'handed back the leases still held');
    } catch (error) {
      this.#log.warn({ err: error }, 'could not hand back leases at stop; other processes take them when this one is declared down');
    }
  }

  /** Why this process is not beating, if it is not: no beat landed within the silence allowed. */
  trouble(now = Date.now()): string | undefined {
    if (this.#lastError !== undefined) return `the store does not answer beats: ${this.#lastError}`;
    if (this.#lastBeatAt === undefined) return 'not registered yet';
    if (now - this.#lastBeatAt > this.silentMs) return `no beat for ${now - this.#lastBeatAt} ms`;
    return undefined;
  }

  async #round(): Promise<number> {
    try {
      const { fenced } = await this.#store.beat(this.#info.id, this.#loops());
      const now = Date.now();
      if (fenced) {
        this.#log.error(
          { process: this.#info.id },
          'this process was declared down by another (it was silent too long: paused or cut off); its leases were freed and work in hand will not commit. Registering again',
        );
        await this.#store.registerProcess(this.#info, this.#announce);
        this.#beatingSince = now;
      }
      this.#beatingSince ??= now;
      this.#lastBeatAt = now;
      this.#lastError = undefined;
      // Only a process that has beaten for a whole silence judges others: after the store was
      // unreachable for everyone, each gets a chance to beat before anyone is declared down.
      if (now - this.#beatingSince >= this.silentMs) await this.#reap();
      if (now - this.#prunedAt >= PRUNE_EVERY_MS) {
        this.#prunedAt = now;
        await this.#store.pruneProcesses(now - KEEP_ENDED_MS);
      }
    } catch (error) {
      this.#beatingSince = undefined;
      this.#lastError = error instanceof Error ? error.message : String(error);
      this.#log.warn({ err: error }, 'heartbeat failed; trying again');
    }
    return this.#intervalMs;
  }

  async #reap(): Promise<void> {
    const reaped = await this.#store.reapSilent(this.silentMs, this.#announce);
    for (const { process, released } of reaped) {
      this.#log.warn(
        { process: process.id, host: process.host, pid: process.pid, lastBeatAt: new Date(process.lastBeatAt).toISOString(), released },
        `process ${process.id} stopped beating: declared down, its work moves here and to the other live processes`,
      );
    }
    if (reaped.length > 0) this.#onReleased();
  }
}
