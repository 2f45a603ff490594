// Identifiers: the values besides its key by which a record is known (an
// email, an account id). An entity declares each one with the part field it is
// read from, how its values are normalised, which values never link and how
// many values one record may hold. Pure functions only: the engine reads a
// record's values with `identifierValues`, ingest normalises a routing value
// with `normaliseIdentifier`.
import { FlowDefinitionError } from '../errors/index.js';
import type { PartsShape } from './entity.js';
import { KeyError } from './key-error.js';

/** A normaliser by name, or your own function; it gets the value as a string. */
export type Normaliser = 'trim' | 'lowercase' | ((value: string) => string);

export interface IdentifierOptions {
  /** The part field holding the value, as `part.field` (e.g. `contact.email`). */
  from: string;
  /**
   * Applied before a value is stored, compared or routed: `trim`, or `lowercase` (trimmed too).
   * @defaultValue 'trim'
   */
  normalise?: Normaliser;
  /**
   * Values (after normalising) that never link a record. Always blocked besides these: the empty
   * string, `null` and `undefined` in any case, and strings of zeros only.
   * @defaultValue []
   */
  blocked?: readonly string[];
  /**
   * Most values one record may hold under this identifier; a change that would link one more is
   * refused and parks its key.
   * @defaultValue 5
   */
  limit?: number;
}

export interface Identifier {
  readonly name: string;
  readonly part: string;
  readonly field: string;
  readonly limit: number;
  /** The normalised value, or undefined when the raw value is absent, not a scalar, or blocked. */
  normalise(raw: unknown): string | undefined;
}

const IDENTIFIER_NAME = /^[a-z][a-z0-9_]*$/;
const ALWAYS_BLOCKED = /^(|null|undefined|0+)$/i;

const NORMALISERS: Record<'trim' | 'lowercase', (value: string) => string> = {
  trim: (value) => value.trim(),
  lowercase: (value) => value.trim().toLowerCase(),
};

/** Your normaliser, its failure a KeyError: the event is refused or parked with it, never the process stopped. */
function guarded(name: string, normalise: (value: string) => string): (value: string) => string {
  return (value) => {
    let result: unknown;
    try {
      result = normalise(value);
    } catch (error) {
      throw new KeyError(name, `the ${name} normaliser threw: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (typeof result !== 'string') throw new KeyError(name, `the ${name} normaliser returned ${typeof result}, not a string`);
    return result;
  };
}

export function defineIdentifiers(entity: string, parts: PartsShape, options: Record<string, IdentifierOptions> = {}): Identifier[] {
  return Object.entries(options).map(([name, option]) => {
    if (!IDENTIFIER_NAME.test(name)) throw new FlowDefinitionError(`entity "${entity}": identifier name "${name}" must match ${IDENTIFIER_NAME}`);
    const [part, field, ...rest] = option.from.split('.');
    const shape = part === undefined ? undefined : parts[part]?.shape;
    if (part === undefined || field === undefined || rest.length > 0 || shape === undefined || !(field in shape)) {
      throw new FlowDefinitionError(`entity "${entity}": identifier "${name}" is read from "${option.from}", which is not a field of one of its parts (part.field)`);
    }
    const limit = option.limit ?? 5;
    if (!Number.isInteger(limit) || limit < 1) throw new FlowDefinitionError(`entity "${entity}": identifier "${name}" has limit ${limit}; it must be a whole number from 1`);
    const normaliser = typeof option.normalise === 'function' ? guarded(name, option.normalise) : NORMALISERS[option.normalise ?? 'trim'];
    if (normaliser === undefined) throw new FlowDefinitionError(`entity "${entity}": identifier "${name}" has an unknown normaliser "${String(option.normalise)}"`);
    const blocked = new Set((option.blocked ?? []).map((value) => normaliser(value)));
    return {
      name,
      part,
      field,
      limit,
      normalise(raw) {
        if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'bigint') return undefined;
        const value = normaliser(String(raw));
        return ALWAYS_BLOCKED.test(value) || blocked.has(value) ? undefined : value;
      },
    };
  });
}

/** The record key given to a record first known by this identifier value: `email:ana@example.com`. */
export const identifierKey = (identifier: string, value: string): string => `${identifier}:${value}`;

/** Each identifier's value in these parts, normalised; identifiers without one are left out. */
export function identifierValues(identifiers: readonly Identifier[], parts: Readonly<Record<string, Readonly<Record<string, unknown>>>> | undefined): Map<string, string> {
  const values = new Map<string, string>();
  for (const identifier of identifiers) {
    const value = identifier.normalise(parts?.[identifier.part]?.[identifier.field]);
    if (value !== undefined) values.set(identifier.name, value);
  }
  return values;
}
