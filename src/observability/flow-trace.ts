// A flow trace: every event of a flow (accepted, processed, parked or
// skipped, with the changes its rule made), the source run that emitted it,
// and every delivery it caused with every attempt; as a nested view and as
// one time-ordered timeline. Built from store rows only, so the flows route
// and `confluo trace` (on the database directly) show the same thing.
import { attemptBody, deliveryBody } from '../api/delivery-api.js';
import { iso } from '../api/iso.js';
import { eventBody } from '../api/read-api.js';
import { runBody } from '../api/source-api.js';
import type { DeliveryWithLog } from '../store/delivery-types.js';
import type { SourceRun } from '../store/source-types.js';
import type { Store } from '../store/store.js';
import type { FlowEvent } from '../store/types.js';

/** Events one trace shows at most; a longer flow (a big source run's) says `truncated`. */
export const FLOW_EVENTS_LIMIT = 1000;

type DeliveryView = ReturnType<typeof deliveryBody> & { attemptLog: Array<ReturnType<typeof attemptBody>> };

/** What happened in one step of the flow. */
type TimelineStep =
  | { kind: 'source-run'; source: string; runId: string; trigger: SourceRun['trigger']; status: SourceRun['status']; finishedAt: string | null }
  | { kind: 'accepted'; eventId: string; name: string; version: number; entity: string; key: string }
  | { kind: 'processed'; eventId: string; recordVersion: number | null; changedParts: string[]; rules: string[] }
  | { kind: 'parked'; eventId: string; error: FlowEvent['error'] }
  | { kind: 'skipped'; eventId: string }
  | { kind: 'delivery-created'; deliveryId: string; integration: string; eventId: string; status: string; reason: string | null }
  | { kind: 'attempt'; deliveryId: string; integration: string; attempt: number; outcome: string; status: number | null; durationMs: number; error: string | null; nextAttemptAt: string | null };

/** One step of the flow, at its time. */
export type TimelineEntry = { at: string | null } & TimelineStep;

/** Same-time steps read in causal order. */
const RANK: Record<TimelineEntry['kind'], number> = { 'source-run': 0, accepted: 1, processed: 2, parked: 2, skipped: 2, 'delivery-created': 3, attempt: 4 };

export const deliveryView = (d: DeliveryWithLog): DeliveryView => ({ ...deliveryBody(d), attemptLog: d.log.map(attemptBody) });

/**
 * The trace of `flowId`, or undefined when no event has it. A run named in an event's metadata
 * shows only when the store has that run of that source (metadata sent to `/events` proves nothing).
 */
export async function buildFlowTrace(store: Pick<Store, 'records' | 'deliveries' | 'sources'>, flowId: string, limit = FLOW_EVENTS_LIMIT) {
  const rows = await store.records.listFlowEvents(flowId, limit + 1);
  if (rows.length === 0) return undefined;
  const events = rows.slice(0, limit);
  const deliveries = await store.deliveries.listDeliveriesOfEvents(events.map((e) => e.eventId));
  const claimed = new Map(events.flatMap((e) => (e.origin ? [[e.origin.runId, e.origin.source] as const] : [])));
  const runs = new Map<string, SourceRun>();
  for (const run of await Promise.all([...claimed.keys()].map((id) => store.sources.getSourceRun(id)))) {
    if (run && claimed.get(run.runId) === run.source) runs.set(run.runId, run);
  }
  const runOf = (e: FlowEvent) => (e.origin && runs.get(e.origin.runId)?.source === e.origin.source ? runs.get(e.origin.runId) : undefined);

  const steps: Array<{ ms: number | null; entry: TimelineEntry }> = [];
  const step = (ms: number | null, entry: TimelineStep) => steps.push({ ms, entry: { at: iso(ms), ...entry } });
  for (const run of runs.values()) {
    step(run.startedAt, { kind: 'source-run', source: run.source, runId: run.runId, trigger: run.trigger, status: run.status, finishedAt: iso(run.finishedAt) });
  }
  for (const e of events) {
    step(e.acceptedAt, { kind: 'accepted', eventId: e.eventId, name: e.name, version: e.version, entity: e.entity, key: e.key });
    if (e.status === 'processed') {
      step(e.processedAt, { kind: 'processed', eventId: e.eventId, recordVersion: e.result?.version ?? null, changedParts: e.result?.changedParts ?? [], rules: e.changes.map((c) => c.rule) });
    } else if (e.status === 'parked') {
      step(e.processedAt ?? e.acceptedAt, { kind: 'parked', eventId: e.eventId, error: e.error });
    } else if (e.status === 'skipped') {
      step(e.processedAt, { kind: 'skipped', eventId: e.eventId });
    }
  }
  for (const d of deliveries) {
    // An ignored or failed delivery is finished as it is made; its last error is the reason.
    step(d.createdAt, { kind: 'delivery-created', deliveryId: d.deliveryId, integration: d.integration, eventId: d.eventId, status: d.status, reason: d.status === 'ignored' || d.status === 'failed' ? d.lastError : null });
    for (const a of d.log) {
      step(a.startedAt, { kind: 'attempt', deliveryId: d.deliveryId, integration: d.integration, attempt: a.attempt, outcome: a.outcome, status: a.status, durationMs: a.durationMs, error: a.error, nextAttemptAt: iso(a.nextAttemptAt) });
    }
  }
  // Stable: same-time, same-rank steps keep the order above (events by seq, deliveries by seq).
  steps.sort((a, b) => (a.ms ?? Infinity) - (b.ms ?? Infinity) || RANK[a.entry.kind] - RANK[b.entry.kind]);

  const byEvent = new Map<string, DeliveryView[]>();
  for (const d of deliveries) {
    const list = byEvent.get(d.eventId);
    if (list) list.push(deliveryView(d));
    else byEvent.set(d.eventId, [deliveryView(d)]);
  }
  return {
    flowId,
    truncated: rows.length > limit,
    sourceRuns: [...runs.values()].map((r) => ({ source: r.source, ...runBody(r) })),
    events: events.map((e) => {
      const { origin, ...event } = e;
      const run = runOf(e);
      return { ...eventBody(event), source: run && origin ? { name: run.source, runId: run.runId, itemId: origin.itemId } : null, deliveries: byEvent.get(e.eventId) ?? [] };
    }),
    timeline: steps.map((s) => s.entry),
  };
}

export type FlowTrace = NonNullable<Awaited<ReturnType<typeof buildFlowTrace>>>;
