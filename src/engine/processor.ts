// The processor: claims a batch of queued events (oldest first, parked keys
// left out), applies them key by key in memory, and commits records, audit
// rows, changes, delivery jobs and event statuses in one transaction.
// A key whose rule fails is parked; its later events stay queued behind it.
import { WorkLoop } from '../runtime/work-loop.js';
import type { Logger } from 'pino';
import { StaleBatchError } from '../errors/index.js';
import type { Flow } from '../flow/flow.js';
import { recordId, type Store } from '../store/store.js';
import type { DigestItem, NewDelivery } from '../store/delivery-types.js';
import type { BatchCommit, Change, InboxEvent, ProcessedResult, StoredRecord } from '../store/types.js';
import { applyEvent } from './apply-event.js';
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
   * Pause after a failed commit (the database is unreachable, the disk is full); the events stay queued.
   * @defaultValue 1000
   */
  errorBackoffMs?: number;
  /**
   * The deliveries (and digest items) a processed event causes, written in its batch's
   * transaction: the outbox. Called for every processed event, with its change if it made one.
   * @defaultValue none
   */
  outbox?: Outbox;
  onResults?: (results: EventResult[]) => void;
  clock?: () => number;
}

export type Outbox = (event: InboxEvent, change: Change | undefined, result: ProcessedResult, now: number) => { deliveries: NewDelivery[]; digestItems: DigestItem[] };

const NO_OUTPUT = { deliveries: [], digestItems: [] };

/** Whether the event's sender waits for its outcome (`metadata.wait: true`, kept in the stored envelope). */
const awaited = (event: InboxEvent): boolean => (event.envelope.metadata as { wait?: unknown } | undefined)?.wait === true;

export class Processor {
  readonly #store: Store;
  readonly #flow: Flow;
  readonly #log: Logger;
  readonly #options: Required<Omit<ProcessorOptions, 'onResults'>> & Pick<ProcessorOptions, 'onResults'>;
  readonly #loop = new WorkLoop(() => this.#round());

  constructor(store: Store, flow: Flow, log: Logger, options: ProcessorOptions = {}) {
    this.#store = store;
    this.#flow = flow;
    this.#log = log;
    this.#options = { batchSize: 1000, idlePollMs: 250, errorBackoffMs: 1000, outbox: () => NO_OUTPUT, clock: Date.now, ...options };
  }

  start(): void {
    this.#loop.start();
  }

  /** Stops after the batch in hand commits. */
  async stop(): Promise<void> {
    await this.#loop.stop();
  }

  /** New work is queued: look now instead of at the next poll. */
  wake(): void {
    this.#loop.wake();
  }

  /** One batch; returns how long to nap before the next. */
  async #round(): Promise<number> {
    try {
      // A batch short of batchSize took all there was: wait for a wake (new or unparked events)
      // or the poll, instead of a claim that only finds the queue empty.
      return (await this.runOnce()) < this.#options.batchSize ? this.#options.idlePollMs : 0;
    } catch (error) {
      if (error instanceof StaleBatchError) {
        this.#log.debug({ err: error }, 'batch lost a race; claiming again');
        return 0;
      }
      this.#log.error({ err: error }, 'processing batch failed; events stay queued');
      return this.#options.errorBackoffMs;
    }
  }

  /** Claims, applies and commits one batch. Returns how many events it settled. */
  async runOnce(): Promise<number> {
    const { events, records: claimed } = await this.#store.claimBatch(this.#options.batchSize);
    if (events.length === 0) return 0;
    const now = this.#options.clock();
    const working = new Map<string, StoredRecord>(claimed);
    const touched = new Set<string>();
    const blocked = new Set<string>();
    const batch: BatchCommit = { records: [], audit: [], changes: [], deliveries: [], digestItems: [], processed: [], parked: [] };
    const results: EventResult[] = [];

    for (const event of events) {
      const id = recordId(event.entity, event.key);
      if (blocked.has(id)) continue; // per-key FIFO: nothing passes a failed event
      const current = working.get(id);
      const outcome = applyEvent(this.#flow, event, current, now);
      if (outcome.kind === 'failed') {
        blocked.add(id);
        batch.parked.push({ entity: event.entity, key: event.key, eventId: event.eventId, error: outcome.error, parkedAt: now, awaited: awaited(event) });
        results.push({ eventId: event.eventId, status: 'parked', entity: event.entity, key: event.key, error: outcome.error });
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
      const out = this.#options.outbox(event, change, result, now);
      for (const delivery of out.deliveries) batch.deliveries.push(delivery);
      for (const item of out.digestItems) batch.digestItems.push(item);
      batch.processed.push({ seq: event.seq, eventId: event.eventId, result, at: now, awaited: awaited(event) });
      results.push({ eventId: event.eventId, status: 'processed', result });
    }

    for (const id of touched) {
      const record = working.get(id) as StoredRecord;
      batch.records.push({ record, expectedVersion: claimed.get(id)?.version ?? 0 });
    }
    await this.#store.commitBatch(batch);
    this.#options.onResults?.(results);
    return events.length;
  }
}
