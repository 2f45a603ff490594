// Field-level differences between two versions of one part. A field that is
// undefined is absent; absent and null are different values.
import { isDeepStrictEqual } from 'node:util';
import type { FieldDiff } from '../store/types.js';

/** isDeepStrictEqual, without its cost for the strings and numbers most fields hold. */
const same = (a: unknown, b: unknown): boolean =>
  Object.is(a, b) || (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && isDeepStrictEqual(a, b));

function compare(part: string, old: Record<string, unknown>, after: Record<string, unknown>, field: string, diffs: FieldDiff[]): void {
  const oldValue = old[field];
  const newValue = after[field];
  if (oldValue === undefined && newValue === undefined) return;
  if (!same(oldValue, newValue)) diffs.push({ part, field, oldValue, newValue });
}

export function diffPart(
  part: string,
  before: Record<string, unknown> | undefined,
  after: Record<string, unknown>,
  fieldOrder: readonly string[] = [],
): FieldDiff[] {
  const old = before ?? {};
  const diffs: FieldDiff[] = [];
  // The schema's fields in order, then any other field either side holds, each once.
  for (const field of fieldOrder) compare(part, old, after, field, diffs);
  for (const field of Object.keys(old)) if (!fieldOrder.includes(field)) compare(part, old, after, field, diffs);
  for (const field of Object.keys(after)) if (!fieldOrder.includes(field) && !Object.hasOwn(old, field)) compare(part, old, after, field, diffs);
  return diffs;
}

/** Drops undefined fields so the stored part is exactly what JSON keeps. */
export function compactPart(value: Record<string, unknown>): Record<string, unknown> {
  const compact: Record<string, unknown> = {};
  for (const field in value) {
    if (Object.hasOwn(value, field) && value[field] !== undefined) compact[field] = value[field];
  }
  return compact;
}
