// Flow definitions: mistakes TypeScript can see are type errors (checked by
// `npm run typecheck` through the @ts-expect-error lines), and every mistake
// is also a FlowDefinitionError at run time.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FlowDefinitionError } from '../errors/index.js';
import { defineEntity, defineEvent, defineFlow, defineRule } from './index.js';

const person = defineEntity({
  name: 'person',
  key: { fields: ['country', 'id'], separator: ':' },
  parts: { name: z.object({ first: z.string(), last: z.string() }), age: z.object({ years: z.number().int() }) },
});
const renamed = defineEvent({ name: 'hr:person:renamed', entity: person, payload: z.object({ country: z.string(), id: z.number(), first: z.string(), last: z.string() }), key: (p) => ({ country: p.country, id: p.id }) });

describe('defineEntity', () => {
  it('joins and splits composite keys with the separator', () => {
    expect(person.formatKey({ country: 'CO', id: 42 })).toBe('CO:42');
    expect(person.parseKey('CO:42')).toEqual({ country: 'CO', id: '42' });
    expect(person.parseKey('CO')).toBeUndefined();
    expect(person.parseKey('CO:')).toBeUndefined();
  });

  it('keeps a one-field key as it is, separator and all', () => {
    const account = defineEntity({ name: 'account', key: { fields: ['account'] }, parts: { p: z.object({}) } });
    expect(account.formatKey({ account: '0001-1' })).toBe('0001-1');
    expect(account.parseKey('0001-1')).toEqual({ account: '0001-1' });
    expect(account.parseKey('')).toBeUndefined();
    expect(() => account.formatKey({ account: 'a/b' })).toThrow(/must not contain "\/"/);
  });

  it('refuses key values that are empty or contain the separator or a slash', () => {
    expect(() => person.formatKey({ country: 'C:O', id: 1 })).toThrow(/must not contain the separator ":"/);
    expect(() => person.formatKey({ country: '', id: 1 })).toThrow(/"country" is empty/);
    expect(() => person.formatKey({ country: 'a/b', id: 1 })).toThrow(/must not contain "\/"/);
  });

  it('refuses bad names, no key fields, no parts', () => {
    expect(() => defineEntity({ name: 'Bad Name', key: { fields: ['id'] }, parts: { p: z.object({}) } })).toThrow(FlowDefinitionError);
    expect(() => defineEntity({ name: 'x', key: { fields: [] }, parts: { p: z.object({}) } })).toThrow(/at least one key field/);
    expect(() => defineEntity({ name: 'x', key: { fields: ['id'] }, parts: {} })).toThrow(/no parts/);
  });
});

describe('defineEvent and defineRule', () => {
  it('refuses malformed event names and versions', () => {
    expect(() => defineEvent({ name: 'NoColons', entity: person, payload: z.object({}), key: () => ({ country: 'a', id: 1 }) })).toThrow(/system:thing:happened/);
    expect(() => defineEvent({ name: 'ab:cd', version: 0, entity: person, payload: z.object({}), key: () => ({ country: 'a', id: 1 }) })).toThrow(/version 0/);
  });

  it('types rules: undeclared parts and wrong values are compile errors, and run-time errors too', () => {
    defineRule({ event: renamed, parts: ['name'], apply: ({ payload }) => ({ name: { first: payload.first, last: payload.last } }) });
    // @ts-expect-error: the rule returns a part it does not declare
    defineRule({ event: renamed, parts: ['name'], apply: () => ({ age: { years: 3 } }) });
    // @ts-expect-error: a field value of the wrong type
    defineRule({ event: renamed, parts: ['name'], apply: () => ({ name: { first: 1, last: 'x' } }) });
    // @ts-expect-error: the payload has no such field
    defineRule({ event: renamed, parts: ['name'], apply: ({ payload }) => ({ name: { first: payload.nickname, last: 'x' } }) });
    // @ts-expect-error: a part the entity does not have
    expect(() => defineRule({ event: renamed, parts: ['salary'], apply: () => undefined })).toThrow(/declares part "salary"/);
    expect(() => defineRule({ event: renamed, parts: [], apply: () => undefined })).toThrow(/declares no parts/);
  });
});

describe('defineFlow', () => {
  const rule = defineRule({ event: renamed, parts: ['name'], apply: () => undefined });

  it('indexes event types and rules by (name, version)', () => {
    const flow = defineFlow({ entities: [person], events: [renamed], rules: [rule] });
    expect(flow.eventType('hr:person:renamed', 1)).toBe(renamed);
    expect(flow.ruleFor('hr:person:renamed', 1)).toBe(rule);
    expect(flow.eventType('hr:person:renamed', 2)).toBeUndefined();
  });

  it('refuses duplicates, strangers and a second rule for one event type', () => {
    expect(() => defineFlow({ entities: [person, person], events: [], rules: [] })).toThrow(/defined twice/);
    expect(() => defineFlow({ entities: [person], events: [renamed, renamed], rules: [] })).toThrow(/hr:person:renamed@v1 is defined twice/);
    expect(() => defineFlow({ entities: [], events: [renamed], rules: [] })).toThrow(/does not list/);
    expect(() => defineFlow({ entities: [person], events: [], rules: [rule] })).toThrow(/does not list/);
    expect(() => defineFlow({ entities: [person], events: [renamed], rules: [rule, rule] })).toThrow(/has two rules/);
  });
});
