// An event type: `(name, version)`, the zod schema of its payload, the entity
// it concerns and how its payload names the entity key.
import type { z } from 'zod';
import { FlowDefinitionError } from '../errors/index.js';
import { KeyError, type Entity, type KeyValues } from './entity.js';
import { identifierKey, type Identifier } from './identifiers.js';

interface EventTypeBase<E extends Entity, S extends z.ZodType, N extends string> {
  /** Events-protocol name, e.g. `crm:contact:updated`. */
  name: N;
  /** @defaultValue 1 */
  version?: number;
  entity: E;
  payload: S;
}

/** How an event type names its record: by the key, or by one of the entity's identifiers. */
export type EventTypeOptions<E extends Entity, S extends z.ZodType, N extends string = string> = EventTypeBase<E, S, N> &
  (
    | {
        /** Picks the entity key fields out of a valid payload. */
        key: (payload: z.output<S>) => KeyValues<E['keyFields']>;
        route?: never;
      }
    | {
        /**
         * Names the record by an identifier the entity declares (`by`), read out of a valid payload
         * (`value`): the event goes to the record that identifier value is linked to, or to a new
         * record keyed `<identifier>:<normalised value>` when none holds it.
         */
        route: { by: string; value: (payload: z.output<S>) => unknown };
        key?: never;
      }
  );

/** Where an event goes: its record key, and the identifier value it was routed by, if any. */
export interface RecordAddress {
  key: string;
  route?: { identifier: string; value: string };
}

// N keeps the name's literal type, so a subscription to several event types can be narrowed by name.
export interface EventType<E extends Entity = Entity, S extends z.ZodType = z.ZodType, N extends string = string> {
  readonly name: N;
  readonly version: number;
  readonly entity: E;
  readonly payload: S;
  /**
   * The record key, or where no record holds the routing value yet, the key a new one gets.
   * Throws a KeyError naming the payload field at fault (an empty or blocked value).
   */
  // Method syntax on purpose: it keeps EventType<Specific> assignable to EventType.
  address(payload: z.output<S>): RecordAddress;
  /** The identifier it routes by, when it does not name the key. */
  readonly route?: Identifier;
}

/** The same pattern GuiaBolso's Python registry enforces: `segment:segment(:segment)*`. */
export const EVENT_NAME = /^[a-z_]+[a-z](:[a-z_]+[a-z])+$/;

export function defineEvent<E extends Entity, S extends z.ZodType, const N extends string>(options: EventTypeOptions<E, S, N>): EventType<E, S, N> {
  const version = options.version ?? 1;
  if (!EVENT_NAME.test(options.name)) {
    throw new FlowDefinitionError(`event name "${options.name}" must look like "system:thing:happened" (${EVENT_NAME})`);
  }
  if (!Number.isInteger(version) || version < 1) {
    throw new FlowDefinitionError(`event "${options.name}" has version ${version}; versions are integers from 1`);
  }
  const entity = options.entity;
  if (options.route !== undefined) {
    const { by, value } = options.route;
    const identifier = entity.identifiers.find((i) => i.name === by);
    if (!identifier) {
      const known = entity.identifiers.map((i) => i.name).join(', ') || 'none';
      throw new FlowDefinitionError(`event "${options.name}" routes by "${by}", which entity "${entity.name}" does not declare as an identifier (declared: ${known})`);
    }
    return {
      name: options.name,
      version,
      entity,
      payload: options.payload,
      route: identifier,
      address(payload) {
        const normalised = identifier.normalise(value(payload));
        if (normalised === undefined) throw new KeyError(by, `the ${by} this event is routed by is empty or blocked`);
        return { key: identifierKey(by, normalised), route: { identifier: by, value: normalised } };
      },
    };
  }
  const key = options.key;
  return { name: options.name, version, entity, payload: options.payload, address: (payload) => ({ key: entity.formatKey(key(payload)) }) };
}

export function eventTypeId(name: string, version: number): string {
  return `${name}@v${version}`;
}
