import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { flow as customerFlow } from '../../examples/customer-sync/flow.js';
import { defineEntity, defineEvent, defineFlow, defineRule } from '../flow/index.js';
import type { InboxEvent, StoredRecord } from '../store/types.js';
import { applyEvent } from './apply-event.js';

const event = (name: string, payload: unknown, over: Partial<InboxEvent> = {}): InboxEvent => ({
  seq: 1,
  eventId: 'e1',
  name,
  version: 1,
  flowId: 'f1',
  entity: 'customer',
  key: 'CC-1015',
  envelope: { payload, metadata: {}, identity: {} },
  acceptedAt: 1,
  status: 'queued',
  ...over,
});

const current: StoredRecord = {
  entity: 'customer',
  key: 'CC-1015',
  version: 3,
  parts: { contact: { name: 'Ana', email: 'ana@example.com', phone: '555' }, billing: { plan: 'pro', status: 'active' } },
  createdAt: 10,
  updatedAt: 20,
};

describe('applyEvent', () => {
  it('creates a record with one diff per field and version 1', () => {
    const outcome = applyEvent(customerFlow, event('crm:contact:updated', { documentType: 'CC', documentNumber: '1015', name: 'Ana', email: 'ana@example.com' }), undefined, 99);
    expect(outcome).toEqual({
      kind: 'changed',
      rule: 'crm:contact:updated@v1',
      changedParts: ['contact'],
      diffs: [
        { part: 'contact', field: 'name', oldValue: undefined, newValue: 'Ana' },
        { part: 'contact', field: 'email', oldValue: undefined, newValue: 'ana@example.com' },
      ],
      record: { entity: 'customer', key: 'CC-1015', version: 1, parts: { contact: { name: 'Ana', email: 'ana@example.com' } }, createdAt: 99, updatedAt: 99 },
    });
  });

  it('diffs only the fields that changed, including a field that disappeared, and keeps other parts', () => {
    const outcome = applyEvent(customerFlow, event('crm:contact:updated', { documentType: 'CC', documentNumber: '1015', name: 'Ana', email: 'ana@new.example.com' }), current, 99);
    expect(outcome.kind).toBe('changed');
    if (outcome.kind !== 'changed') return;
    expect(outcome.diffs).toEqual([
      { part: 'contact', field: 'email', oldValue: 'ana@example.com', newValue: 'ana@new.example.com' },
      { part: 'contact', field: 'phone', oldValue: '555', newValue: undefined },
    ]);
    expect(outcome.record).toMatchObject({ version: 4, createdAt: 10, updatedAt: 99, parts: { billing: current.parts.billing, contact: { name: 'Ana', email: 'ana@new.example.com' } } });
    expect(outcome.record.parts.contact).not.toHaveProperty('phone');
  });

  it('reports no change when the rule writes the values already there', () => {
    const outcome = applyEvent(customerFlow, event('billing:subscription:changed', { documentType: 'CC', documentNumber: '1015', plan: 'pro', status: 'active' }), current, 99);
    expect(outcome).toEqual({ kind: 'unchanged', rule: 'billing:subscription:changed@v1' });
  });

  it('fails a rule that mutates the record it was given, leaving the record intact', () => {
    const entity = defineEntity({ name: 'thing', key: { fields: ['id'] }, parts: { p: z.object({ n: z.number() }) } });
    const ev = defineEvent({ name: 'thing:bumped', entity, payload: z.object({ id: z.string() }), key: (p) => ({ id: p.id }) });
    const flow = defineFlow({
      entities: [entity],
      events: [ev],
      rules: [
        defineRule({
          event: ev,
          parts: ['p'],
          apply: (_e, cur) => {
            if (cur?.parts.p) cur.parts.p.n = 1000;
            return { p: { n: (cur?.parts.p?.n ?? 0) + 1 } };
          },
        }),
      ],
    });
    const before: StoredRecord = { entity: 'thing', key: 'a', version: 1, parts: { p: { n: 1 } }, createdAt: 1, updatedAt: 1 };
    const outcome = applyEvent(flow, event('thing:bumped', { id: 'a' }, { entity: 'thing', key: 'a' }), before, 5);
    expect(outcome).toMatchObject({ kind: 'failed', error: { code: 'RULE_FAILED', message: expect.stringMatching(/read only property 'n'/) } });
    expect(before.parts.p).toEqual({ n: 1 });
  });

  it('fails with RULE_OUTPUT_INVALID naming the part field when the rule returns a bad value', () => {
    const entity = defineEntity({ name: 'thing', key: { fields: ['id'] }, parts: { p: z.object({ n: z.number() }), q: z.object({ s: z.string() }) } });
    const ev = defineEvent({ name: 'thing:bumped', entity, payload: z.object({ id: z.string(), mode: z.string() }), key: (p) => ({ id: p.id }) });
    const flow = defineFlow({
      entities: [entity],
      events: [ev],
      rules: [
        defineRule({
          event: ev,
          parts: ['p'],
          apply: ({ payload }) => (payload.mode === 'bad' ? { p: { n: 'x' as unknown as number } } : payload.mode === 'array' ? ([] as never) : ({ q: { s: 'sneaky' } } as never)),
        }),
      ],
    });
    const bad = applyEvent(flow, event('thing:bumped', { id: 'a', mode: 'bad' }, { entity: 'thing', key: 'a' }), undefined, 1);
    expect(bad).toMatchObject({ kind: 'failed', error: { code: 'RULE_OUTPUT_INVALID', details: { fields: [{ name: 'p.n', errorType: 'invalid_type' }] } } });
    const undeclared = applyEvent(flow, event('thing:bumped', { id: 'a', mode: 'undeclared' }, { entity: 'thing', key: 'a' }), undefined, 1);
    expect(undeclared).toMatchObject({ kind: 'failed', error: { code: 'RULE_OUTPUT_INVALID' } });
    expect(undeclared.kind === 'failed' && undeclared.error.message).toMatch(/part "q", which it does not declare/);
    const array = applyEvent(flow, event('thing:bumped', { id: 'a', mode: 'array' }, { entity: 'thing', key: 'a' }), undefined, 1);
    expect(array).toMatchObject({ kind: 'failed', error: { code: 'RULE_OUTPUT_INVALID' } });
  });

  it('fails with RULE_FAILED carrying the message when the rule throws', () => {
    const entity = defineEntity({ name: 'thing', key: { fields: ['id'] }, parts: { p: z.object({ n: z.number() }) } });
    const ev = defineEvent({ name: 'thing:bumped', entity, payload: z.object({ id: z.string() }), key: (p) => ({ id: p.id }) });
    const flow = defineFlow({ entities: [entity], events: [ev], rules: [defineRule({ event: ev, parts: ['p'], apply: () => { throw new TypeError('no way'); } })] });
    expect(applyEvent(flow, event('thing:bumped', { id: 'a' }, { entity: 'thing', key: 'a' }), undefined, 1)).toEqual({
      kind: 'failed',
      error: { code: 'RULE_FAILED', message: 'rule "thing:bumped@v1" threw: no way', details: { error: 'TypeError' } },
    });
  });

  it('fails when the event type left the flow or its stored payload no longer validates', () => {
    expect(applyEvent(customerFlow, event('gone:event:type', {}), undefined, 1)).toMatchObject({ kind: 'failed', error: { code: 'RULE_NOT_FOUND' } });
    expect(applyEvent(customerFlow, event('crm:contact:updated', { documentType: 'CC' }), undefined, 1)).toMatchObject({ kind: 'failed', error: { code: 'EVENT_PAYLOAD_INVALID' } });
  });
});
