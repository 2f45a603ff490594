// Turns a processed event (and its change) into deliveries for every
// subscribed integration. Runs inside the processing transaction, so a change
// and its deliveries commit together. A mapping that throws becomes a failed
// delivery with the error, never a parked key.
import { randomUUID } from 'node:crypto';
import type { Outbox } from '../engine/processor.js';
import type { DigestItem, NewDelivery } from '../store/delivery-types.js';
import type { Change, InboxEvent, ProcessedResult } from '../store/types.js';
import { deepFreeze } from '../engine/deep-freeze.js';
import { isSkip, type ChangeInput, type EventInput, type Integration } from './integration.js';

export const newDeliveryId = (): string => `msg_${randomUUID().replaceAll('-', '')}`;

function inputFor(integration: Integration, event: InboxEvent, change: Change | undefined, result: ProcessedResult, now: number): ChangeInput | EventInput | undefined {
  const on = integration.on;
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
  if (!on.events.includes(event.name)) return undefined;
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
  return (event, change, result, now) => {
    const deliveries: NewDelivery[] = [];
    const digestItems: DigestItem[] = [];
    for (const integration of active) {
      const input = inputFor(integration, event, change, result, now);
      if (!input) continue;
      const base = {
        deliveryId: newDeliveryId(),
        integration: integration.name,
        kind: input.kind,
        entity: event.entity,
        key: event.key,
        eventId: event.eventId,
        version: change?.version ?? null,
        createdAt: now,
      } as const;
      let mapped;
      try {
        mapped = integration.map(input);
      } catch (error) {
        deliveries.push({ ...base, request: undefined, status: 'failed', reason: `mapping threw: ${error instanceof Error ? error.message : String(error)}` });
        continue;
      }
      if (isSkip(mapped)) {
        deliveries.push({ ...base, request: undefined, status: 'ignored', reason: mapped.skip });
      } else if (integration.digest) {
        const windowMs = integration.digest.windowMs;
        digestItems.push({ integration: integration.name, windowStart: Math.floor(now / windowMs) * windowMs, entity: event.entity, key: event.key, eventId: event.eventId, item: mapped.body, createdAt: now });
      } else {
        deliveries.push({ ...base, request: mapped, status: 'pending' });
      }
    }
    return { deliveries, digestItems };
  };
}
