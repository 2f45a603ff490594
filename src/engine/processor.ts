// The processor: claims a batch of queued events (oldest first, parked keys
// left out), applies them key by key in memory, and commits records, audit
// rows, changes, delivery jobs and event statuses in one transaction.
// A key whose rule fails is parked; its later events stay queued behind it.
// A batch whose commit fails is committed again in halves, key groups apart,
// down to single events: the event the store cannot take parks its own key,
// every other key goes on, and the same failing batch is never retried as is.
import { LoopHealthTracker } from '../runtime/loop-health.js';
import { WorkLoop } from '../runtime/work-loop.js';
import type { Logger } from 'pino';
import { ConfluoError, StaleBatchError } from '../errors/index.js';
import type { Flow } from '../flow/flow.js';
import type { LoopHealth } from '../store/health-types.js';
import type { ClaimedBatch, InboxStore } from '../store/inbox-store.js';
import { recordId } from '../store/store.js';
import type { DigestItem, NewDelivery } from '../store/delivery-types.js';
import type { BatchCommit, Change, IdentifierLink, InboxEvent, ParkedKey, ProcessedResult, StoredRecord } from '../store/types.js';
import { applyEvent, type EventOutcome } from './apply-event.js';
import { checkLinks, LinkBook, wantedLinks, type WantedLink } from './identity.js';
import type { Entity } from '../flow/entity.js';
import type { EventType } from '../flow/event-type.js';
import type { EventResult } from './outcomes.js';

export interface ProcessorOptions {
  /**
   * Events claimed and committed per transaction.
   * @defaultValue 1000
   */
  batchSize?: number;
  /**
   * How long an idle processor sleeps before looking again when nobody wakes it.
   * @defaultValue 250
   */
  idlePollMs?: number;
  /**
   * Pause after a round that could commit nothing (the database is unreachable, the disk is full);
   * the events stay queued. It doubles with each such round in a row, up to 30 s.
   * @defaultValue 1000
   */
  errorBackoffMs?: number;
  /**
   * The deliveries (and digest items) a processed event causes, written in its batch's
   * transaction: the outbox. Called for every processed event, with its change if it made one.
   * @defaultValue none
   */
  outbox?: Outbox;
  /** Called after each commit with what became of its events and the batch it wrote (metrics count both). */
  onResults?: (results: EventResult[], batch: BatchCommit) => void;
  /**
   * Opens a span per event processed (OpenTelemetry, when on), ended once its batch committed;
   * the event's deliveries carry the span's traceparent. See src/observability/tracing.ts.
   * @defaultValue none
   */
  tracer?: EventTracer;
  clock?: () => number;
}

/** `traceparent`: what the event's deliveries carry, when a tracer gave one; else the outbox derives it. */
export type Outbox = (event: InboxEvent, change: Change | undefined, result: ProcessedResult, now: number, traceparent?: string) => { deliveries: NewDelivery[]; digestItems: DigestItem[] };

export interface EventTracer {
  start(event: InboxEvent, now: number): { readonly traceparent: string; end(result: EventResult): void };
}

const NO_OUTPUT = { deliveries: [], digestItems: [] };

/** A commit that finds its records moved is a lost race, claimed again at once, up to this many times in a row. */
const STALE_STREAK_LIMIT = 3;
const MAX_BACKOFF_MS = 30_000;
/** Identifier links a processor remembers (Processor.#held). */
const HELD_LIMIT = 100_000;
const linkId = (l: Pick<IdentifierLink, 'entity' | 'identifier' | 'value'>) => `${l.entity}\u0000${l.identifier}\u0000${l.value}`;

/** What one claim decided, ready to commit, and the working records it leaves. */
interface Plan {
  batch: BatchCommit;
  results: EventResult[];
  working: Map<string, StoredRecord>;
  /** With a tracer: each result's open span, in the same order. */
  spans?: Array<ReturnType<EventTracer['start']>>;
  /** Planned without a LinkBook: the identifier values each event would link, in event order, still to be checked. */
  unchecked: Array<{ event: InboxEvent; entity: Entity; wanted: WantedLink[] }>;
}

/** Events grouped by key, each group in queue order, groups in order of their first event. */
function byKey(events: readonly InboxEvent[]): InboxEvent[][] {
  const groups = new Map<string, InboxEvent[]>();
  for (const event of events) {
    const id = recordId(event.entity, event.key);
    const group = groups.get(id);
    if (group) group.push(event);
    else groups.set(id, [event]);
  }
  return [...groups.values()];
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Whether the event's sender waits for its outcome (`metadata.wait: true`, kept in the stored envelope). */
const awaited = (event: InboxEvent): boolean => (event.envelope.metadata as { wait?: unknown } | undefined)?.wait === true;

export class Processor {
  readonly #store: InboxStore;
  readonly #flow: Flow;
  readonly #log: Logger;
  readonly #options: Required<Omit<ProcessorOptions, 'onResults' | 'tracer'>> & Pick<ProcessorOptions, 'onResults' | 'tracer'>;
  readonly #loop = new WorkLoop(() => this.#round());
  readonly #health = new LoopHealthTracker('processor');
  /** Rounds in a row that committed nothing: the back-off grows with them. */
  #failedRounds = 0;
  /** Commits in a row that lost to a moved record or event (see STALE_STREAK_LIMIT). */
  #staleStreak = 0;
  /** The next batch, claimed while the one before it committed (InboxStore.claimAhead). */
  #ahead: Promise<ClaimedBatch> | undefined;
  #stopping: Promise<void> | undefined;
  /** The event types that may link identifier values: routed by one, or with a rule that sets a part one is read from. */
  readonly #linking: ReadonlySet<EventType>;
  /**
   * Identifier values known to be linked, and to which key: a value an event wants for the key
   * that holds it needs no look-up. Links never change hands, so a stale entry cannot be wrong.
   * Every write of a contact part wants its email again; without this, that look-up cost 13% of
   * processing with an identifier declared (0.87x against 0.95x, same-run A/B, 2026-12-03).
   */
  readonly #held = new Map<string, string>();

  constructor(store: InboxStore, flow: Flow, log: Logger, options: ProcessorOptions = {}) {
    this.#store = store;
    this.#flow = flow;
    this.#log = log;
    this.#options = { batchSize: 1000, idlePollMs: 250, errorBackoffMs: 1000, outbox: () => NO_OUTPUT, clock: Date.now, ...options };
    this.#linking = new Set(
      [...flow.events.values()].filter(
        (type) => type.route !== undefined || (flow.ruleFor(type.name, type.version)?.parts ?? []).some((part) => type.entity.identifiers.some((i) => i.part === part)),
      ),
    );
  }

  start(): void {
    this.#loop.start();
  }

  /** Stops after the batch in hand commits, and the one claimed ahead of it, if any. A second call waits for the first. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop().finally(() => (this.#stopping = undefined));
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    await this.#loop.stop();
    // Its keys are leased to this process: apply it rather than leave them waiting for the lease to run out.
    if (this.#ahead) {
      await this.runOnce().catch((error: unknown) => {
        this.#log.warn({ err: error }, 'the batch claimed ahead was not applied at stop; its events stay queued');
      });
    }
  }

  /** New work is queued: look now instead of at the next poll. */
  wake(): void {
    this.#loop.wake();
  }

  /** How the loop did at its last round, for beats and `/readyz`. */
  health(): LoopHealth {
    return this.#health.read();
  }

  /** One batch; returns how long to nap before the next. */
  async #round(): Promise<number> {
    try {
      // A batch short of batchSize took all there was: wait for a wake (new or unparked events)
      // or the poll, instead of a claim that only finds the queue empty.
      const settled = await this.runOnce();
      this.#failedRounds = 0;
      this.#health.ok();
      return settled < this.#options.batchSize ? this.#options.idlePollMs : 0;
    } catch (error) {
      if (error instanceof StaleBatchError) {
        this.#log.debug({ err: error }, 'batch lost a race; claiming again');
        this.#health.ok();
        return 0;
      }
      this.#failedRounds += 1;
      // A batch claimed ahead holds its keys' leases: it goes next, not after the back-off (its own failure backs off).
      const pause = this.#ahead ? 0 : Math.min(this.#options.errorBackoffMs * 2 ** (this.#failedRounds - 1), MAX_BACKOFF_MS);
      this.#log.error({ err: error, retryInMs: pause }, 'processing batch failed; events stay queued');
      this.#health.trouble('error', `processing failed ${this.#failedRounds} time(s) in a row: ${messageOf(error)}`);
      return pause;
    }
  }

  /** Claims, applies and commits one batch. Returns how many events it settled. */
  async runOnce(): Promise<number> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    const { events, records } = await (ahead ?? this.#store.claimBatch(this.#options.batchSize));
    if (events.length === 0) return 0;
    const now = this.#options.clock();
    const { plan, book } = await this.#checkedPlan(events, records, now, undefined);
    try {
      const committed = this.#commit(plan);
      if (ahead === undefined) this.#claimAhead(events);
      await committed;
      this.#staleStreak = 0;
    } catch (error) {
      if (error instanceof StaleBatchError && ++this.#staleStreak < STALE_STREAK_LIMIT) throw error;
      // A store that says a retry could help (a lost connection) is failing as a whole, not for one event.
      if (error instanceof ConfluoError && error.retryable && !(error instanceof StaleBatchError)) throw error;
      this.#staleStreak = 0;
      this.#log.warn({ err: error, events: events.length }, 'batch commit failed; committing its keys apart to find the event at fault');
      // A stale batch may have lost a link to another worker too: its keys look the links up again.
      await this.#isolate(byKey(events), records, now, error instanceof StaleBatchError ? undefined : book);
    }
    return events.length;
  }

  /**
   * The plan for the events with the identifier values it links checked: against `book` when given,
   * else against the links looked up for the values it wants, if it wants any.
   */
  async #checkedPlan(events: readonly InboxEvent[], records: ReadonlyMap<string, StoredRecord>, now: number, known: LinkBook | undefined): Promise<{ plan: Plan; book: LinkBook | undefined }> {
    const plan = this.#plan(events, records, now, known);
    if (plan.unchecked.length === 0) return { plan, book: known };
    const book = await this.#lookUpLinks(plan.unchecked);
    // Rarely refused: only then is the batch planned again, with the refused events parked.
    return { plan: this.#checkLinks(plan, book, now) ? plan : this.#plan(events, records, now, book), book };
  }

  /** The links the values an unchecked plan wants are checked against: those of its keys and of the values. */
  async #lookUpLinks(unchecked: Plan['unchecked']): Promise<LinkBook> {
    const queries = new Map<string, { keys: Set<string>; values: WantedLink[] }>();
    for (const { event, wanted } of unchecked) {
      const query = queries.get(event.entity) ?? { keys: new Set<string>(), values: [] };
      query.keys.add(event.key);
      query.values.push(...wanted);
      queries.set(event.entity, query);
    }
    const found = (await Promise.all([...queries].map(([entity, query]) => this.#store.findLinks(entity, { keys: [...query.keys], values: query.values })))).flat();
    for (const link of found) this.#remember(link);
    return new LinkBook(found);
  }

  #remember(link: Pick<IdentifierLink, 'entity' | 'identifier' | 'value' | 'key'>): void {
    // Bounded: starting over costs one look-up per value, where an ever-growing map would leak.
    if (this.#held.size >= HELD_LIMIT) this.#held.clear();
    this.#held.set(linkId(link), link.key);
  }

  /**
   * Checks an unchecked plan's links in event order and adds them to its batch; false, leaving the
   * plan as it was, when one is refused. The plan made with the book then parks that event; its
   * first spans are dropped unended (never exported).
   */
  #checkLinks(plan: Plan, known: LinkBook, now: number): boolean {
    const book = known.fork();
    const links = [];
    for (const { event, entity, wanted } of plan.unchecked) {
      const check = checkLinks(entity, event.key, wanted, book, event, now);
      if (!check.ok) return false;
      for (const link of check.links) book.add(link);
      links.push(...check.links);
    }
    plan.batch.links = links;
    return true;
  }

  /**
   * A full batch says more is queued: where the store allows it, the next batch is claimed while
   * this one commits. One PostgreSQL worker spent about 60% of a drain waiting on its commits (CPU
   * profile, 2026-12-03).
   *
   * Only a batch from a plain claim claims ahead, so every other claim starts again from the head
   * of the queue. A claim ahead looks only past the seqs in hand and skips the keys in hand: what
   * it passes over (a key in hand that got a new event, a key freed meanwhile) waits for the next
   * plain claim, at most one batch later. A chain of claims ahead would leave such an event
   * waiting for as long as the queue stays full. A claim that fails is reported by the round that
   * takes it.
   */
  #claimAhead(events: readonly InboxEvent[]): void {
    // Only the running loop claims ahead, so a stopped processor holds no keys.
    if (!this.#loop.running || this.#store.claimAhead === undefined || events.length < this.#options.batchSize) return;
    const afterSeq = events.reduce((highest, event) => Math.max(highest, event.seq), 0);
    const ahead = this.#store.claimAhead(this.#options.batchSize, afterSeq);
    ahead.catch(() => undefined); // awaited by the next round; until then a rejection is not unhandled
    this.#ahead = ahead;
  }

  async #commit(plan: Plan): Promise<void> {
    await this.#store.commitBatch(plan.batch);
    for (const link of plan.batch.links ?? []) this.#remember(link);
    if (plan.spans) plan.spans.forEach((span, i) => span.end(plan.results[i] as EventResult));
    this.#options.onResults?.(plan.results, plan.batch);
  }

  /**
   * Commits key groups whose batch failed: in halves while there are several, then a lone key's
   * events one at a time. An event that fails twice alone parks its key with the error; a park
   * that fails too throws (after the other keys had their turn), and the round backs off with
   * that key's events still queued.
   */
  async #isolate(groups: InboxEvent[][], records: Map<string, StoredRecord>, now: number, book: LinkBook | undefined): Promise<void> {
    if (groups.length > 1) {
      const half = Math.ceil(groups.length / 2);
      let unsettled: unknown;
      for (const part of [groups.slice(0, half), groups.slice(half)]) {
        try {
          const checked = await this.#checkedPlan(part.flat(), records, now, book);
          await this.#commit(checked.plan);
          for (const link of checked.plan.batch.links ?? []) checked.book?.add(link);
        } catch {
          // A half that cannot even park its culprit still lets the other half through.
          await this.#isolate(part, records, now, book).catch((error: unknown) => (unsettled ??= error));
        }
      }
      if (unsettled !== undefined) throw unsettled;
      return;
    }
    for (const event of groups[0] ?? []) {
      let failure: unknown;
      for (let attempt = 0; attempt < 2; attempt += 1) {
        try {
          const { plan } = await this.#checkedPlan([event], records, now, book);
          await this.#commit(plan);
          const id = recordId(event.entity, event.key);
          const record = plan.working.get(id);
          if (record) records.set(id, record);
          for (const link of plan.batch.links ?? []) book?.add(link);
          failure = undefined;
          break;
        } catch (error) {
          failure = error;
        }
      }
      if (failure === undefined) continue;
      const error = { code: 'COMMIT_FAILED', message: `the store could not commit this event's effects: ${messageOf(failure)}` };
      try {
        await this.#commit(this.#parkPlan(event, error, now));
      } catch (parkError) {
        if (parkError instanceof StaleBatchError) return; // someone else settled it meanwhile
        throw parkError;
      }
      this.#log.error({ err: failure, eventId: event.eventId, flowId: event.flowId, entity: event.entity, key: event.key }, 'event could not be committed; key parked');
      return; // per-key FIFO: the key's later events wait behind the parked one
    }
  }

  /**
   * The applied event's outcome once the identifier values it links are looked at: with a book,
   * checked (a value it may not link fails the event) and added to the batch; without one, noted
   * in the plan for the caller to check.
   */
  #link(outcome: EventOutcome, event: InboxEvent, current: StoredRecord | undefined, book: LinkBook | undefined, plan: Pick<Plan, 'batch' | 'unchecked'>, now: number): EventOutcome {
    const type = this.#flow.eventType(event.name, event.version);
    if (type === undefined || !this.#linking.has(type)) return outcome;
    let wanted: WantedLink[];
    try {
      wanted = wantedLinks(type, event, current, outcome.kind === 'changed' ? outcome.record : current);
    } catch (error) {
      // A normaliser of the flow's that threw (KeyError): this event's fault, parked like a rule's.
      return { kind: 'failed', error: { code: 'IDENTIFIER_INVALID', message: error instanceof Error ? error.message : String(error) } };
    }
    wanted = wanted.filter((w) => this.#held.get(linkId({ entity: event.entity, ...w })) !== event.key);
    if (wanted.length === 0) return outcome;
    if (book === undefined) {
      plan.unchecked.push({ event, entity: type.entity, wanted });
      return outcome;
    }
    const check = checkLinks(type.entity, event.key, wanted, book, event, now);
    if (!check.ok) return { kind: 'failed', error: check.error };
    for (const link of check.links) {
      book.add(link);
      (plan.batch.links ??= []).push(link);
    }
    return outcome;
  }

  #parkPlan(event: InboxEvent, error: ParkedKey['error'], now: number): Plan {
    const batch: BatchCommit = { records: [], audit: [], changes: [], deliveries: [], digestItems: [], processed: [], parked: [] };
    batch.parked.push({ entity: event.entity, key: event.key, eventId: event.eventId, error, parkedAt: now, awaited: awaited(event) });
    const tracer = this.#options.tracer;
    return {
      batch,
      results: [{ eventId: event.eventId, name: event.name, status: 'parked', entity: event.entity, key: event.key, error }],
      working: new Map(),
      unchecked: [],
      ...(tracer ? { spans: [tracer.start(event, now)] } : {}),
    };
  }

  /**
   * Applies the events to the claimed records in memory: what their commit should write. With a
   * book, the identifier values an event links are checked against it and committed with it.
   */
  #plan(events: readonly InboxEvent[], claimed: ReadonlyMap<string, StoredRecord>, now: number, known: LinkBook | undefined): Plan {
    const book = known?.fork();
    const unchecked: Plan['unchecked'] = [];
    const working = new Map<string, StoredRecord>(claimed);
    const touched = new Set<string>();
    const blocked = new Set<string>();
    const batch: BatchCommit = { records: [], audit: [], changes: [], deliveries: [], digestItems: [], processed: [], parked: [] };
    const results: EventResult[] = [];
    const tracer = this.#options.tracer;
    const spans: Plan['spans'] = tracer ? [] : undefined;

    for (const event of events) {
      const id = recordId(event.entity, event.key);
      if (blocked.has(id)) continue; // per-key FIFO: nothing passes a failed event
      const span = tracer?.start(event, now);
      if (span) spans?.push(span);
      const current = working.get(id);
      const applied = applyEvent(this.#flow, event, current, now);
      // A flow without identifiers skips the look entirely.
      const outcome = this.#linking.size > 0 && applied.kind !== 'failed' ? this.#link(applied, event, current, book, { batch, unchecked }, now) : applied;
      if (outcome.kind === 'failed') {
        blocked.add(id);
        batch.parked.push({ entity: event.entity, key: event.key, eventId: event.eventId, error: outcome.error, parkedAt: now, awaited: awaited(event) });
        results.push({ eventId: event.eventId, name: event.name, status: 'parked', entity: event.entity, key: event.key, error: outcome.error });
        this.#log.warn({ eventId: event.eventId, flowId: event.flowId, entity: event.entity, key: event.key, error: outcome.error }, 'rule failed; key parked');
        continue;
      }
      let result: ProcessedResult;
      let change: Change | undefined;
      if (outcome.kind === 'changed') {
        const { record, diffs, changedParts, rule } = outcome;
        working.set(id, record);
        touched.add(id);
        for (const diff of diffs) {
          batch.audit.push({
            part: diff.part,
            field: diff.field,
            oldValue: diff.oldValue,
            newValue: diff.newValue,
            entity: record.entity,
            key: record.key,
            version: record.version,
            rule,
            eventId: event.eventId,
            flowId: event.flowId,
            at: now,
          });
        }
        change = { entity: record.entity, key: record.key, version: record.version, eventId: event.eventId, flowId: event.flowId, rule, changedParts, diffs, record, at: now };
        batch.changes.push(change);
        result = { entity: event.entity, key: event.key, version: record.version, changedParts };
      } else {
        result = { entity: event.entity, key: event.key, version: current?.version ?? 0, changedParts: [] };
      }
      const out = this.#options.outbox(event, change, result, now, span?.traceparent);
      for (const delivery of out.deliveries) batch.deliveries.push(delivery);
      for (const item of out.digestItems) batch.digestItems.push(item);
      batch.processed.push({ seq: event.seq, eventId: event.eventId, result, at: now, awaited: awaited(event) });
      results.push({ eventId: event.eventId, name: event.name, status: 'processed', result });
    }

    for (const id of touched) {
      const record = working.get(id) as StoredRecord;
      batch.records.push({ record, expectedVersion: claimed.get(id)?.version ?? 0 });
    }
    return spans ? { batch, results, working, spans, unchecked } : { batch, results, working, unchecked };
  }
}
