// An entity is the unified schema of one kind of thing (e.g. `customer`): a
// composite key and a record split into named parts, each a zod object.
import type { z } from 'zod';
import { FlowDefinitionError } from '../errors/index.js';
import { defineIdentifiers, type Identifier, type IdentifierOptions } from './identifiers.js';
import { KeyError } from './key-error.js';

export type PartsShape = Record<string, z.ZodObject>;

export interface EntityOptions<N extends string, K extends readonly string[], P extends PartsShape> {
  /** The entity's name, as it appears in URLs (`/api/v1/entities/<name>/<key>`). */
  name: N;
  key: {
    /** The fields that make up the key, in order (e.g. `['documentType', 'documentNumber']`). */
    fields: K;
    /**
     * Joins the key fields into one string (`CC-1015`). A field value may not contain it.
     * @defaultValue '-'
     */
    separator?: string;
  };
  /** The record's parts; rules declare which of them they may change. */
  parts: P;
  /**
   * The values besides the key that name a record, by identifier name (e.g. `email` read from
   * `contact.email`): event types may route by them, and a rule that sets one links it to the record.
   * @defaultValue none
   */
  identifiers?: Record<string, IdentifierOptions>;
}

export type KeyValues<K extends readonly string[]> = { [F in K[number]]: string | number };

export interface Entity<N extends string = string, K extends readonly string[] = readonly string[], P extends PartsShape = PartsShape> {
  readonly name: N;
  readonly keyFields: K;
  readonly separator: string;
  readonly parts: P;
  /** The declared identifiers besides the key, in declaration order. */
  readonly identifiers: readonly Identifier[];
  /** Joins key field values into the key string; throws a KeyError naming the bad field. */
  formatKey(values: KeyValues<K>): string;
  /** Splits a key string back into its fields; undefined when it has the wrong shape. */
  parseKey(key: string): Record<K[number], string> | undefined;
}

/** The values of an entity's parts, each optional: a record may not have every part yet. */
export type EntityParts<E extends Entity> = { [P in keyof E['parts']]?: z.output<E['parts'][P]> };

export { KeyError } from './key-error.js';

const ENTITY_NAME = /^[a-z][a-z0-9_-]*$/;

export function defineEntity<const N extends string, const K extends readonly string[], P extends PartsShape>(
  options: EntityOptions<N, K, P>,
): Entity<N, K, P> {
  const separator = options.key.separator ?? '-';
  const fields = options.key.fields;
  if (!ENTITY_NAME.test(options.name)) {
    throw new FlowDefinitionError(`entity name "${options.name}" must match ${ENTITY_NAME}`);
  }
  if (fields.length === 0) throw new FlowDefinitionError(`entity "${options.name}" needs at least one key field`);
  if (separator.length === 0) throw new FlowDefinitionError(`entity "${options.name}" has an empty key separator`);
  if (Object.keys(options.parts).length === 0) throw new FlowDefinitionError(`entity "${options.name}" has no parts`);
  if (options.identifiers && 'key' in options.identifiers) throw new FlowDefinitionError(`entity "${options.name}": "key" names the key itself; pick another identifier name`);
  const identifiers = defineIdentifiers(options.name, options.parts, options.identifiers);

  return {
    name: options.name,
    keyFields: fields,
    separator,
    parts: options.parts,
    identifiers,
    formatKey(values) {
      return fields
        .map((field) => {
          const raw = (values as Record<string, unknown>)[field];
          if (raw === undefined || raw === null || String(raw).length === 0) {
            throw new KeyError(field, `key field "${field}" is empty`);
          }
          const text = String(raw);
          // With one key field the key is the value itself: nothing to split, so any separator may appear.
          if (fields.length > 1 && text.includes(separator)) {
            throw new KeyError(field, `key field "${field}" must not contain the separator "${separator}"`);
          }
          if (text.includes('/')) throw new KeyError(field, `key field "${field}" must not contain "/"`);
          return text;
        })
        .join(separator);
    },
    parseKey(key) {
      if (fields.length === 1) return key.length === 0 ? undefined : ({ [fields[0] as string]: key } as Record<K[number], string>);
      const pieces = key.split(separator);
      if (pieces.length !== fields.length || pieces.some((p) => p.length === 0)) return undefined;
      return Object.fromEntries(fields.map((f, i) => [f, pieces[i]])) as Record<K[number], string>;
    },
  };
}
