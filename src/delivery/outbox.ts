// Turns a processed event (and its change) into deliveries for every
// subscribed integration. Runs inside the processing transaction, so a change
// and its deliveries commit together. A mapping that throws becomes a failed
// delivery with the error, never a parked key.
import { randomUUID } from 'node:crypto';
import type { Outbox } from '../engine/processor.js';
import type { DigestItem, NewDelivery } from '../store/delivery-types.js';
import type { Change, InboxEvent, ProcessedResult } from '../store/types.js';
import { deepFreeze } from '../engine/deep-freeze.js';
import { childTraceparent, storedTraceparent, withTraceparent } from '../observability/trace-context.js';
import { eventTypeId } from '../flow/event-type.js';
import { isSkip, type ChangeInput, type EventInput, type Integration } from './integration.js';

/**
 * `msg_` and a UUIDv7 in hex: 48 bits of milliseconds, then random bits. Ids made
 * close in time sort close together, so inserting them lands at the right end of
 * the `delivery_id` index instead of a random page: with random (v4) ids each batch
 * dirtied pages all over that index, about 8% of processing time.
 */
export function newDeliveryId(now: number = Date.now()): string {
  // A v4 UUID's random hex after its version digit (xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx): 3 + 4 + 12 digits.
  const uuid = randomUUID();
  return `msg_${millisHex(now)}7${uuid.slice(15, 18)}${uuid.slice(19, 23)}${uuid.slice(24)}`;
}

// A batch shares one clock reading: format it once.
let lastMillis = -1;
let lastMillisHex = '';
function millisHex(now: number): string {
  if (now !== lastMillis) {
    lastMillis = now;
    lastMillisHex = now.toString(16).padStart(12, '0');
  }
  return lastMillisHex;
}

function inputFor(integration: Integration, event: InboxEvent, change: Change | undefined, result: ProcessedResult, now: number): ChangeInput | EventInput | undefined {
  const on = integration.on;
  if ('monitors' in on) return undefined; // announced by the monitors' transitions (src/health/announcer.ts)
  if ('entity' in on) {
    if (!change || change.entity !== on.entity) return undefined;
    if (on.parts && !on.parts.some((p) => change.changedParts.includes(p))) return undefined;
    return {
      kind: 'change',
      entity: change.entity,
      key: change.key,
      version: change.version,
      changedParts: change.changedParts,
      diffs: change.diffs,
      // Frozen by the engine: a mapping cannot change the record it reads.
      record: change.record.parts,
      cause: { eventId: change.eventId, flowId: change.flowId, rule: change.rule },
      at: new Date(now),
    };
  }
  if (!on.events.includes(event.name) && !on.events.includes(eventTypeId(event.name, event.version))) return undefined;
  return {
    kind: 'event',
    name: event.name,
    version: event.version,
    eventId: event.eventId,
    flowId: event.flowId,
    entity: event.entity,
    key: event.key,
    payload: deepFreeze(event.envelope.payload),
    result,
    at: new Date(now),
  };
}

export function createOutbox(integrations: readonly Integration[]): Outbox {
  const active = integrations.filter((i) => i.disabled === false);
  return (event, change, result, now, context) => {
    const deliveries: NewDelivery[] = [];
    const digestItems: DigestItem[] = [];
    // The event's processing context, shared by its deliveries: the tracer's span, else a child
    // of the traceparent the event came with (none without one). Stored with each request, so
    // retries and replays send the same header. A digest folds many events: it carries none.
    const traceparent = context ?? childTraceparent(storedTraceparent(event.envelope.metadata as Record<string, unknown> | undefined));
    for (const integration of active) {
      const input = inputFor(integration, event, change, result, now);
      if (!input) continue;
      const deliveryId = newDeliveryId(now);
      const version = change?.version ?? null;
      let mapped;
      try {
        mapped = integration.map(input);
      } catch (error) {
        const reason = `mapping threw: ${error instanceof Error ? error.message : String(error)}`;
        deliveries.push({ deliveryId, integration: integration.name, kind: input.kind, entity: event.entity, key: event.key, eventId: event.eventId, version, createdAt: now, request: undefined, status: 'failed', reason });
        continue;
      }
      // Delivery rows are written out field by field: a spread of a shared base per row showed in the profile.
      if (isSkip(mapped)) {
        deliveries.push({ deliveryId, integration: integration.name, kind: input.kind, entity: event.entity, key: event.key, eventId: event.eventId, version, createdAt: now, request: undefined, status: 'ignored', reason: mapped.skip });
      } else if (integration.digest) {
        const windowMs = integration.digest.windowMs;
        digestItems.push({ integration: integration.name, windowStart: Math.floor(now / windowMs) * windowMs, entity: event.entity, key: event.key, eventId: event.eventId, item: mapped.body, createdAt: now });
      } else {
        deliveries.push({ deliveryId, integration: integration.name, kind: input.kind, entity: event.entity, key: event.key, eventId: event.eventId, version, createdAt: now, request: withTraceparent(mapped, traceparent), status: 'pending' });
      }
    }
    return { deliveries, digestItems };
  };
}
