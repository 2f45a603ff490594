// Field diffs: the schema's fields first, then any other field either side
// holds; absent and null differ; equal objects and arrays are no change.
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { compactPart, diffPart } from './diff.js';

/** The plain definition the fast paths in diff.ts must agree with. */
function reference(part: string, before: Record<string, unknown> | undefined, after: Record<string, unknown>, fieldOrder: readonly string[]) {
  const old = before ?? {};
  return [...new Set([...fieldOrder, ...Object.keys(old), ...Object.keys(after)])]
    .filter((field) => !(old[field] === undefined && after[field] === undefined) && !isDeepStrictEqual(old[field], after[field]))
    .map((field) => ({ part: part, field, oldValue: old[field], newValue: after[field] }));
}

describe('diffPart', () => {
  it('lists changed fields in schema order, then other old fields, then other new ones', () => {
    const diffs = diffPart('contact', { extraOld: 1, name: 'Ana', email: 'a@x' }, { extraNew: 2, email: 'b@x', name: 'Ana', phone: null }, ['name', 'email', 'phone']);
    expect(diffs).toEqual([
      { part: 'contact', field: 'email', oldValue: 'a@x', newValue: 'b@x' },
      { part: 'contact', field: 'phone', oldValue: undefined, newValue: null },
      { part: 'contact', field: 'extraOld', oldValue: 1, newValue: undefined },
      { part: 'contact', field: 'extraNew', oldValue: undefined, newValue: 2 },
    ]);
  });

  it('sees no change in equal nested values, and one in -0 against 0 as strict equality does', () => {
    expect(diffPart('p', { tags: ['a', { b: 1 }] }, { tags: ['a', { b: 1 }] })).toEqual([]);
    expect(diffPart('p', { n: 0 }, { n: -0 })).toHaveLength(1);
    expect(diffPart('p', { n: Number.NaN }, { n: Number.NaN })).toEqual([]);
  });

  it('agrees with the plain definition on any parts', () => {
    const value = fc.oneof(fc.constant(undefined), fc.constant(null), fc.integer({ min: -2, max: 2 }), fc.constantFrom('a', 'b'), fc.array(fc.integer({ min: 0, max: 1 }), { maxLength: 2 }), fc.dictionary(fc.constantFrom('x', 'y'), fc.integer({ min: 0, max: 1 }), { maxKeys: 2 }));
    const fields = fc.constantFrom('a', 'b', 'c', 'd', 'e');
    const part = fc.dictionary(fields, value, { maxKeys: 5 });
    fc.assert(
      fc.property(fc.option(part, { nil: undefined }), part, fc.uniqueArray(fields, { maxLength: 3 }), (before, after, order) => {
        expect(diffPart('p', before, after, order)).toEqual(reference('p', before, after, order));
      }),
    );
  });
});

describe('compactPart', () => {
  it('drops undefined fields and keeps null, in order', () => {
    expect(Object.entries(compactPart({ a: 1, b: undefined, c: null, d: 'x' }))).toEqual([
      ['a', 1],
      ['c', null],
      ['d', 'x'],
    ]);
  });
});
