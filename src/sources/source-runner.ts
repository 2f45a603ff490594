// Runs sources: on their schedule (the `pull` role), or now on request. A run
// takes the source's lease, so one run of a source goes at a time across every
// process; it pulls page after page from the stored checkpoint and commits
// each page's events with the checkpoint after it, in one transaction.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { maskText } from '../delivery/auth/mask.js';
import { ConfigError, ConfluoError } from '../errors/index.js';
import { KeyError } from '../flow/entity.js';
import type { Flow } from '../flow/flow.js';
import { LoopHealthTracker } from '../runtime/loop-health.js';
import { Waker } from '../runtime/waker.js';
import type { LoopHealth } from '../store/health-types.js';
import type { SourceStore } from '../store/source-store.js';
import type { SourcePageCommit, SourceRun, SourceRunTrigger } from '../store/source-types.js';
import type { Json, NewInboxEvent } from '../store/types.js';
import { describeIssues } from '../validation/field-issues.js';
import { backoffDelay } from './schedule.js';
import type { Source } from './source.js';
import type { PullPage } from './source-driver.js';

export interface SourceRunnerOptions {
  /**
   * How long a run holds its source without a commit or a renewal before another process may take
   * over (a crashed holder frees it after this).
   * @defaultValue 60000
   */
  leaseMs?: number;
  /** How often the scheduler looks for due sources. @defaultValue 1000 */
  pollMs?: number;
  /** Called after a page accepted at least one new event. */
  onAccepted?: () => void;
  /** Called after each committed page, e.g. for a progress line; `emitted` counts its events (new or duplicate). */
  onPage?: (page: { source: string; runId: string; items: number; emitted: number; accepted: number; rejected: number }) => void;
  /** Called when a run this process made ends (succeeded, failed or interrupted), e.g. for metrics. */
  onRun?: (run: SourceRun) => void;
  clock?: () => number;
  /** Who holds the leases this runner takes: the process's id, so a reaper can free them. @defaultValue a random id */
  owner?: string;
}

/** A source is busy: another run (here or in another process) holds it. */
export class SourceBusyError extends ConfluoError {
  constructor(name: string) {
    super('SOURCE_BUSY', `source "${name}" is running now (here or in another process); try again when that run ends`);
  }
}

export class UnknownSourceError extends ConfluoError {
  constructor(name: string) {
    super('UNKNOWN_SOURCE', `no source is named "${name}"`);
  }
}

/** A page's items turned into events and rejects. */
interface PreparedPage {
  events: NewInboxEvent[];
  rejected: SourcePageCommit['rejected'];
  skipped: number;
}

const toJson = (value: unknown): Json => {
  try {
    return (JSON.parse(JSON.stringify(value ?? null)) as Json) ?? null;
  } catch {
    return String(value);
  }
};

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The id of an item that failed its schema, when `id()` can still tell: for the rejected list only. */
function bestEffortId(source: Source, raw: unknown): string | null {
  try {
    const id = source.id(raw);
    return typeof id === 'string' && id.length > 0 ? id : null;
  } catch {
    return null;
  }
}

export class SourceRunner {
  readonly #store: SourceStore;
  readonly #sources: ReadonlyMap<string, Source>;
  readonly #log: Logger;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #onAccepted: () => void;
  readonly #onPage: NonNullable<SourceRunnerOptions['onPage']>;
  readonly #onRun: SourceRunnerOptions['onRun'];
  readonly #clock: () => number;
  readonly #owner: string;
  readonly #health = new LoopHealthTracker('sources');
  readonly #waker = new Waker();
  /** Runs in this process, by source name. */
  readonly #running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  #loop: Promise<void> | undefined;
  #stopping = false;
  #closed = false;

  constructor(store: SourceStore, flow: Flow, sources: readonly Source[], log: Logger, options: SourceRunnerOptions = {}) {
    this.#store = store;
    this.#log = log;
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#pollMs = options.pollMs ?? 1000;
    this.#onAccepted = options.onAccepted ?? (() => undefined);
    this.#onPage = options.onPage ?? (() => undefined);
    this.#onRun = options.onRun;
    this.#clock = options.clock ?? Date.now;
    this.#owner = options.owner ?? randomUUID();
    const byName = new Map<string, Source>();
    for (const source of sources) {
      if (byName.has(source.name)) throw new ConfigError(`two sources are named "${source.name}"`);
      const type = flow.eventType(source.emits.name, source.emits.version);
      if (type !== source.emits) {
        throw new ConfigError(`source "${source.name}" makes ${source.emits.name} v${source.emits.version} events, which the flow does not list`);
      }
      byName.set(source.name, source);
    }
    this.#sources = byName;
  }

  get sources(): ReadonlyMap<string, Source> {
    return this.#sources;
  }

  /** Whether the scheduler runs here (`start` called, not stopped). */
  get scheduling(): boolean {
    return this.#loop !== undefined && !this.#stopping;
  }

  /** How the scheduler did at its last round, for beats and `/readyz`. */
  health(): LoopHealth {
    return this.#health.read();
  }

  /** Records every source in the store; call once before `start` or `runNow`. */
  async register(): Promise<void> {
    const now = this.#clock();
    await this.#store.registerSources([...this.#sources.values()].map((s) => ({ name: s.name, kind: s.driver.kind, schedule: s.schedule.text })), now);
    for (const source of this.#sources.values()) {
      if (source.disabled !== false) this.#log.warn({ source: source.name }, `source ${source.name} is off: ${source.disabled}`);
    }
  }

  /** Starts the scheduler: due sources run here unless another process got them first. */
  start(): void {
    if (this.#loop) return;
    this.#stopping = false;
    // The loop handles its own errors; this only guards against a bug escaping it.
    this.#loop = this.#schedule().catch((error: unknown) => this.#log.error({ err: error }, 'source scheduler stopped'));
  }

  /**
   * Stops scheduling, cancels runs in progress (their committed pages stand) and waits for them,
   * at most `graceMs`: a driver that ignores the cancel is left behind, and its lease runs out.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopping = true;
    this.#waker.wake();
    await this.#loop;
    this.#loop = undefined;
    for (const run of this.#running.values()) run.controller.abort(new Error('the hub is stopping'));
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
    const outcome = await Promise.race([Promise.allSettled([...this.#running.values()].map((r) => r.done)), grace]);
    clearTimeout(timer);
    if (outcome === 'late') this.#log.warn({ sources: [...this.#running.keys()] }, 'source runs did not stop in time; their leases will run out');
  }

  /** Stops, then closes every driver. */
  async close(): Promise<void> {
    await this.stop();
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#sources.values()].map((s) => s.driver.close?.()));
  }

  /** Runs the source now and resolves with that run's summary (failed runs too). */
  async runNow(name: string): Promise<SourceRun> {
    const source = this.#sources.get(name);
    if (!source) throw new UnknownSourceError(name);
    if (source.disabled !== false) throw new ConfluoError('SOURCE_OFF', `source "${name}" is off: ${source.disabled}`);
    if (this.#running.has(name)) throw new SourceBusyError(name);
    const run = await this.#begin(source, 'manual', false);
    if (!run) throw new SourceBusyError(name);
    return run;
  }

  async #schedule(): Promise<void> {
    // Sources that run at start are due now; the others on their schedule.
    const due = new Set([...this.#sources.values()].filter((s) => s.disabled === false && s.runAtStart).map((s) => s.name));
    const started = new Set<string>();
    while (!this.#stopping) {
      let nextDue = this.#clock() + this.#pollMs;
      try {
        for (const name of due) {
          await this.#store.setSourceNextRun(name, this.#clock());
          due.delete(name);
        }
        const rows = await this.#store.listSources();
        const now = this.#clock();
        for (const row of rows) {
          const source = this.#sources.get(row.name);
          if (this.#stopping || !source || source.disabled !== false || this.#running.has(row.name) || due.has(row.name)) continue;
          if (row.nextRunAt === null) {
            // New, or its schedule changed: the next run follows the schedule from now.
            const next = source.schedule.next(now);
            if (next !== null) await this.#store.setSourceNextRun(row.name, next);
            if (next !== null) nextDue = Math.min(nextDue, next);
            continue;
          }
          if (row.nextRunAt > now) {
            nextDue = Math.min(nextDue, row.nextRunAt);
            continue;
          }
          if (row.leaseUntil !== null && row.leaseUntil >= now) continue;
          const trigger: SourceRunTrigger = source.runAtStart && !started.has(row.name) ? 'start' : 'schedule';
          started.add(row.name);
          void this.#begin(source, trigger, true).catch((error: unknown) => this.#log.error({ err: error, source: row.name }, 'source run failed to start'));
        }
        this.#health.ok();
      } catch (error) {
        this.#log.error({ err: error }, 'source scheduler could not read the store; trying again');
        this.#health.trouble('error', `could not read the sources' schedule: ${reasonOf(error)}`);
      }
      await this.#waker.sleep(Math.max(10, nextDue - this.#clock()));
    }
  }

  /** Takes the lease and runs; undefined when the source was not free (or not due). */
  async #begin(source: Source, trigger: SourceRunTrigger, onlyIfDue: boolean): Promise<SourceRun | undefined> {
    const runId = randomUUID();
    const controller = new AbortController();
    let settle!: () => void;
    // Reserved before the first await, so the scheduler and a manual run never both start here.
    this.#running.set(source.name, { controller, done: new Promise<void>((resolve) => (settle = resolve)) });
    try {
      const taken = await this.#store.startSourceRun(source.name, { runId, owner: this.#owner, trigger, now: this.#clock(), leaseMs: this.#leaseMs, onlyIfDue });
      if (!taken) return undefined;
      return await this.#execute(source, runId, taken.checkpoint, controller);
    } finally {
      this.#running.delete(source.name);
      settle();
      this.#waker.wake();
    }
  }

  async #execute(source: Source, runId: string, start: Json | null, controller: AbortController): Promise<SourceRun> {
    const log = this.#log.child({ source: source.name, runId });
    const secrets = source.driver.secrets?.() ?? [];
    // Keeps the lease while a slow page is read; losing it cancels the run.
    const renew = setInterval(() => {
      this.#store
        .renewSourceLease(source.name, this.#owner, this.#clock(), this.#leaseMs)
        .then((held) => {
          if (!held) controller.abort(new Error('lost the source lease to another process'));
        })
        .catch((error: unknown) => log.warn({ err: error }, 'could not renew the source lease'));
    }, Math.max(50, Math.floor(this.#leaseMs / 3)));
    let checkpoint = start;
    let pages = 0;
    let status: 'succeeded' | 'failed' | 'interrupted' = 'succeeded';
    let error: string | null = null;
    let moreLeft = false;
    try {
      for (;;) {
        if (controller.signal.aborted) throw controller.signal.reason;
        const page = (await source.driver.pull(checkpoint, { source: source.name, signal: controller.signal, log })) as PullPage<unknown, Json>;
        if (controller.signal.aborted) throw controller.signal.reason;
        const prepared = this.#prepare(source, runId, page);
        const now = this.#clock();
        const committed = await this.#store.commitSourcePage({
          source: source.name,
          owner: this.#owner,
          runId,
          ...prepared,
          checkpoint: toJson(page.checkpoint),
          now,
          leaseMs: this.#leaseMs,
        });
        if (!committed) throw new Error('lost the source lease to another process; this page was not kept');
        pages += 1;
        const accepted = committed.outcomes.filter((o) => o.status === 'accepted').length;
        if (accepted > 0) this.#onAccepted();
        this.#onPage({ source: source.name, runId, items: page.items.length + (page.rejected?.length ?? 0), emitted: prepared.events.length, accepted, rejected: prepared.rejected.length });
        checkpoint = toJson(page.checkpoint);
        if (!page.more) break;
        if (pages >= source.maxPagesPerRun) {
          moreLeft = true;
          break;
        }
      }
    } catch (thrown) {
      status = controller.signal.aborted ? 'interrupted' : 'failed';
      error = maskText(reasonOf(thrown), secrets);
      log.warn({ error }, `source run ${status}: ${error}`);
    } finally {
      clearInterval(renew);
    }
    const now = this.#clock();
    const failures = status === 'failed' ? ((await this.#store.getSource(source.name))?.consecutiveFailures ?? 0) + 1 : 0;
    const scheduled = source.schedule.next(now);
    const nextRunAt =
      status === 'interrupted' || moreLeft
        ? now
        : status === 'failed'
          ? Math.max(scheduled ?? 0, now + backoffDelay(failures, source.backoff))
          : scheduled;
    await this.#store.finishSourceRun(source.name, { runId, owner: this.#owner, status, error, nextRunAt, now });
    const run = await this.#store.getSourceRun(runId);
    if (!run) throw new Error(`source run ${runId} vanished from the store`);
    log.info({ pages: run.pages, items: run.items, accepted: run.accepted, duplicates: run.duplicates, rejected: run.rejected, status: run.status }, 'source run ended');
    this.#onRun?.(run);
    return run;
  }

  /** Checks and maps each item; what fails becomes a reject with its reason, never an error of the run. */
  #prepare(source: Source, runId: string, page: PullPage<unknown, Json>): PreparedPage {
    const events: NewInboxEvent[] = [];
    const rejected: SourcePageCommit['rejected'] = (page.rejected ?? []).map((r) => ({ itemId: null, raw: toJson(r.raw), reason: r.reason }));
    let skipped = 0;
    const type = source.emits;
    const acceptedAt = this.#clock();
    for (const raw of page.items) {
      let itemId: string | null = null;
      try {
        let item: unknown = raw;
        if (source.item) {
          const parsed = source.item.safeParse(raw);
          if (!parsed.success) {
            itemId = bestEffortId(source, raw);
            throw new Error(describeIssues(parsed.error.issues).map((f) => `${f.name}: ${f.message}`).join('; '));
          }
          item = parsed.data;
        }
        const id = source.id(item);
        if (typeof id !== 'string' || id.length === 0) throw new Error(`the item has no id (the source's id() gave ${JSON.stringify(id)})`);
        itemId = id;
        const payload = source.map(item);
        if (payload === null || payload === undefined) {
          skipped += 1;
          continue;
        }
        const parsed = type.payload.safeParse(payload);
        if (!parsed.success) {
          throw new Error(`not a valid ${type.name} payload: ${describeIssues(parsed.error.issues).map((f) => `${f.name}: ${f.message}`).join('; ')}`);
        }
        const { key, route } = type.address(parsed.data);
        const eventId = `${source.name}:${id}`;
        events.push({
          eventId,
          name: type.name,
          version: type.version,
          flowId: source.flowId?.(item) ?? runId,
          entity: type.entity.name,
          key,
          ...(route ? { route } : {}),
          // As an events-protocol request, so pulled and pushed events read the same everywhere.
          envelope: { name: type.name, version: type.version, id: eventId, flowId: source.flowId?.(item) ?? runId, payload: toJson(payload), identity: {}, metadata: { origin: 'source', source: source.name, runId, itemId: id } },
          acceptedAt,
        });
      } catch (error) {
        const reason = error instanceof KeyError ? `invalid key: ${error.message}` : reasonOf(error);
        rejected.push({ itemId, raw: toJson(raw), reason });
      }
    }
    return { events, rejected, skipped };
  }
}
