// An event type: `(name, version)`, the zod schema of its payload, the entity
// it concerns and how its payload names the entity key.
import type { z } from 'zod';
import { FlowDefinitionError } from '../errors/index.js';
import type { Entity, KeyValues } from './entity.js';

export interface EventTypeOptions<E extends Entity, S extends z.ZodType, N extends string = string> {
  /** Events-protocol name, e.g. `crm:contact:updated`. */
  name: N;
  /** @defaultValue 1 */
  version?: number;
  entity: E;
  payload: S;
  /** Picks the entity key fields out of a valid payload. */
  key: (payload: z.output<S>) => KeyValues<E['keyFields']>;
}

// N keeps the name's literal type, so a subscription to several event types can be narrowed by name.
export interface EventType<E extends Entity = Entity, S extends z.ZodType = z.ZodType, N extends string = string> {
  readonly name: N;
  readonly version: number;
  readonly entity: E;
  readonly payload: S;
  // Method syntax on purpose: it keeps EventType<Specific> assignable to EventType.
  key(payload: z.output<S>): KeyValues<E['keyFields']>;
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
  return { name: options.name, version, entity: options.entity, payload: options.payload, key: options.key };
}

export function eventTypeId(name: string, version: number): string {
  return `${name}@v${version}`;
}
