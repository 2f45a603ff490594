// Delivery ids: the `msg_` + 32 hex digits receivers have always seen, unique,
// and ordered by the time they were made (UUIDv7), which keeps their index compact.
// Which events an event subscription takes.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineEntity } from '../flow/entity.js';
import { defineEvent } from '../flow/event-type.js';
import type { InboxEvent } from '../store/types.js';
import { defineIntegration, type Integration } from './integration.js';
import { createOutbox, newDeliveryId } from './outbox.js';
import { functionSink } from './sinks/function-sink.js';

describe('newDeliveryId', () => {
  it('is msg_ and a version-7 UUID in hex, carrying the time it was made', () => {
    const now = Date.UTC(2026, 10, 22, 8, 0, 0, 123);
    const id = newDeliveryId(now);
    expect(id).toMatch(/^msg_[0-9a-f]{12}7[0-9a-f]{3}[89ab][0-9a-f]{15}$/);
    expect(Number.parseInt(id.slice(4, 16), 16)).toBe(now);
  });

  it('never repeats within one millisecond, and sorts later ids after earlier ones', () => {
    const now = Date.now();
    const same = new Set(Array.from({ length: 10_000 }, () => newDeliveryId(now)));
    expect(same.size).toBe(10_000);
    const ids = [now - 86_400_000, now - 1, now, now + 1, now + 3_600_000].map((t) => newDeliveryId(t));
    expect([...ids].sort()).toEqual(ids);
  });
});

describe('event subscriptions', () => {
  const entity = defineEntity({ name: 'thing', key: { fields: ['id'] }, parts: { p: z.object({ n: z.number() }) } });
  const bumpedV1 = defineEvent({ name: 'thing:bumped', version: 1, entity, payload: z.object({ id: z.string() }), key: (p) => ({ id: p.id }) });
  const bumpedV2 = defineEvent({ name: 'thing:bumped', version: 2, entity, payload: z.object({ id: z.string(), by: z.number() }), key: (p) => ({ id: p.id }) });
  const sink = functionSink(async () => undefined);
  const processed = (version: number): InboxEvent => ({
    eventId: `e${version}`,
    name: 'thing:bumped',
    version,
    flowId: 'f',
    entity: 'thing',
    key: 'A',
    envelope: { payload: { id: 'A', by: 2 } },
    acceptedAt: 0,
    seq: version,
    status: 'queued',
  });
  const result = { entity: 'thing', key: 'A', version: 0, changedParts: [] };
  const delivered = (integration: Integration) => {
    const outbox = createOutbox([integration]);
    return [1, 2].filter((version) => outbox(processed(version), undefined, result, 0).deliveries.length > 0);
  };

  it('takes only the version of an event type it names, and every version of a name given as a string', () => {
    const typed = defineIntegration({ name: 'v2-only', on: { events: [bumpedV2] }, map: ({ payload }) => ({ body: payload.by }), sink });
    const named = defineIntegration({ name: 'any', on: { events: ['thing:bumped'] }, map: ({ payload }) => ({ body: payload }), sink });
    expect(typed.on).toEqual({ events: ['thing:bumped@v2'] });
    expect(delivered(typed)).toEqual([2]);
    expect(delivered(named)).toEqual([1, 2]);
    expect(delivered(defineIntegration({ name: 'v1-only', on: { events: [bumpedV1] }, map: () => ({ body: null }), sink }))).toEqual([1]);
  });
});
