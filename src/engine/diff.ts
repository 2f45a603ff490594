// Field-level differences between two versions of one part. A field that is
// undefined is absent; absent and null are different values.
import { isDeepStrictEqual } from 'node:util';
import type { FieldDiff } from '../store/types.js';

export function diffPart(
  part: string,
  before: Record<string, unknown> | undefined,
  after: Record<string, unknown>,
  fieldOrder: readonly string[] = [],
): FieldDiff[] {
  const old = before ?? {};
  const fields = new Set([...fieldOrder, ...Object.keys(old), ...Object.keys(after)]);
  const diffs: FieldDiff[] = [];
  for (const field of fields) {
    const oldValue = old[field];
    const newValue = after[field];
    if (oldValue === undefined && newValue === undefined) continue;
    if (!isDeepStrictEqual(oldValue, newValue)) diffs.push({ part, field, oldValue, newValue });
  }
  return diffs;
}

/** Drops undefined fields so the stored part is exactly what JSON keeps. */
export function compactPart(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}
