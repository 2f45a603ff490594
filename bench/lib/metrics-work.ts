// The metrics' own work per event through a hub, timed directly: the hooks an
// event runs (its answer counted, its request timed, its share of a processing
// commit, its delivery's attempt counted and timed) on a real HubMetrics, in a
// loop. Comparing whole hubs with metrics on and off cannot see 3% on this
// 2-core machine: two identical hubs, alternating, differ by up to 9% in the
// median of 8 rounds (measured 2026-12-03), because the load generator, the
// receiver and the hub share the cores.
import pino from 'pino';
import type { EventResult } from '../../src/engine/outcomes.js';
import { HubMetrics } from '../../src/observability/metrics.js';
import type { ResponseEnvelope } from '../../src/protocol/envelope.js';
import type { DeliveryAttempt } from '../../src/store/delivery-types.js';
import type { BatchCommit } from '../../src/store/types.js';
import { median } from './processing.js';

const EVENT = 'crm:contact:updated';
const INTEGRATION = 'support-desk';
/** Small, so the per-batch part is not flattered: the end-to-end hub commits a few dozen events at a time. */
const BATCH = 10;

/** Microseconds of metrics work per event, the median of 5 timed loops. */
export function metricsWorkPerEvent(): number {
  const metrics = new HubMetrics({ store: {} as never, events: [EVENT], isOwnHandler: () => false, integrations: [INTEGRATION], monitors: [], log: pino({ level: 'silent' }) });
  const answer: ResponseEnvelope = { name: `${EVENT}:response`, version: 1, id: 'answer', flowId: 'flow', payload: { status: 'accepted' }, identity: {}, auth: {}, metadata: {} };
  const results = Array.from({ length: BATCH }, (_, i): EventResult => ({ eventId: `e${i}`, name: EVENT, status: 'processed', result: {} as never }));
  const batch = { deliveries: Array.from({ length: BATCH }, () => ({ integration: INTEGRATION, status: 'pending' })) } as unknown as BatchCommit;
  const attempt = { outcome: 'succeeded', durationMs: 2.5 } as DeliveryAttempt;
  const event = (i: number) => {
    metrics.answered([answer]);
    metrics.request('POST', '/events', 202, 0.0012);
    if (i % BATCH === 0) metrics.committed(results, batch);
    metrics.attempted(attempt, INTEGRATION);
  };
  const loops = 100_000;
  const timings: number[] = [];
  for (let round = 0; round < 6; round++) {
    const started = performance.now();
    for (let i = 0; i < loops; i++) event(i);
    // The first loop warms the JIT and is not counted.
    if (round > 0) timings.push(((performance.now() - started) * 1000) / loops);
  }
  return median(timings);
}
