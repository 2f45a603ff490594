// Limits at the door, in one place: what an envelope may carry before anything
// is stored. Whatever passes them every store can write and every API can read
// back, so a hostile or careless client fails alone, with an answer naming the
// field, instead of failing a group commit or blocking a key.

/** The limits, documented in SECURITY.md ("Input limits"). */
export const LIMITS = {
  /** Longest `id`, `flowId` and `name` of an envelope, in UTF-16 code units. */
  maxIdLength: 256,
  /** Longest entity key an event may resolve to, in UTF-16 code units. */
  maxKeyLength: 256,
  /**
   * Deepest nesting of objects and arrays in `payload`, `identity` and `metadata` (a flat object
   * is depth 1). Deeper values overflow the stack of JSON encoders and of PostgreSQL's jsonb.
   */
  maxDepth: 64,
} as const;

/**
 * Longest URL path parameter the HTTP API takes: an id or key at its longest limit, every
 * character percent-encoded as the three UTF-8 bytes of a BMP character (`%E2%82%AC`). So
 * whatever ingest accepted, the read API can be asked for.
 */
export const MAX_PARAM_LENGTH = Math.max(LIMITS.maxIdLength, LIMITS.maxKeyLength) * 9;

/**
 * Why a string cannot be stored as sent, or undefined when it can: a NUL (PostgreSQL text and
 * jsonb refuse it) or a lone UTF-16 surrogate (not Unicode: UTF-8 has no encoding for it, so a
 * driver would store other bytes than were sent and the value would not read back the same).
 */
export function badText(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain a NUL character (\\u0000)';
  if (!text.isWellFormed()) return 'must be well-formed Unicode (it holds a lone UTF-16 surrogate)';
  return undefined;
}

/** Why an identifier (event id, flow id, event name, entity key) is refused, or undefined. */
export function badIdentifier(text: string, maxLength: number): string | undefined {
  if (text.length > maxLength) return `must be at most ${maxLength} characters, got ${text.length}`;
  return badText(text);
}

export interface ValueIssue {
  /** Dotted path below the checked value (`''` for the value itself), e.g. `items.0.note`. */
  path: string;
  message: string;
  errorType: 'too_deep' | 'invalid_text';
}

/**
 * The first place in a parsed JSON value that breaks the limits: nesting deeper than
 * `maxDepth`, or a string (value or property name) that `badText` refuses. Walks with an
 * explicit stack, so a value nested a million levels deep costs no recursion.
 */
export function checkJsonValue(value: unknown, maxDepth: number = LIMITS.maxDepth): ValueIssue | undefined {
  const stack: Place[] = [{ value, name: '', parent: undefined, depth: 0 }];
  for (let place = stack.pop(); place !== undefined; place = stack.pop()) {
    const { value: current, depth } = place;
    if (typeof current === 'string') {
      const problem = badText(current);
      if (problem) return { path: pathOf(place), message: problem, errorType: 'invalid_text' };
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > maxDepth) return { path: pathOf(place), message: `nests deeper than ${maxDepth} levels`, errorType: 'too_deep' };
    if (Array.isArray(current)) {
      current.forEach((child, i) => stack.push({ value: child, name: String(i), parent: place, depth: depth + 1 }));
      continue;
    }
    for (const name in current) {
      if (!Object.hasOwn(current, name)) continue;
      const child: Place = { value: (current as Record<string, unknown>)[name], name, parent: place, depth: depth + 1 };
      const problem = badText(name);
      if (problem) return { path: pathOf(child), message: `property name ${problem}`, errorType: 'invalid_text' };
      stack.push(child);
    }
  }
  return undefined;
}

/** A value met on the walk; its path is only spelled out when it is reported. */
interface Place {
  value: unknown;
  name: string;
  parent: Place | undefined;
  depth: number;
}

function pathOf(place: Place): string {
  const names: string[] = [];
  for (let p: Place | undefined = place; p?.parent !== undefined; p = p.parent) names.push(p.name);
  return names.reverse().join('.');
}
