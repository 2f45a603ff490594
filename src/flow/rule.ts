// A rule turns one event and the current record into new values for the parts
// it declares. Rules are pure and synchronous, so a whole batch of them can run
// inside one store transaction.
import type { z } from 'zod';
import { FlowDefinitionError } from '../errors/index.js';
import type { Entity, EntityParts } from './entity.js';
import type { EventType } from './event-type.js';

/** The event as a rule sees it: the validated payload and the envelope's context. */
export interface RuleEvent<S extends z.ZodType = z.ZodType> {
  id: string;
  name: string;
  version: number;
  flowId: string;
  payload: z.output<S>;
  identity: Record<string, unknown>;
  metadata: Record<string, unknown>;
  acceptedAt: Date;
}

export interface CurrentRecord<E extends Entity = Entity> {
  key: string;
  version: number;
  parts: EntityParts<E>;
  updatedAt: Date;
}

type EntityOf<T> = T extends EventType<infer E, z.ZodType> ? E : never;
type PayloadOf<T> = T extends EventType<Entity, infer S> ? S : never;

/** What a rule returns: new values for (some of) its declared parts; nothing means no change. */
export type RuleResult<E extends Entity, P extends keyof E['parts']> = { [K in P]?: z.input<E['parts'][K]> } | undefined | null | void;

export interface RuleOptions<T extends EventType, P extends keyof EntityOf<T>['parts']> {
  /** Shown in the audit trail. @defaultValue the event type's `name@vN` */
  name?: string;
  event: T;
  /** The parts this rule may change. Returning any other part is an error. */
  parts: readonly P[];
  apply: (event: RuleEvent<PayloadOf<T>>, current: CurrentRecord<EntityOf<T>> | undefined) => RuleResult<EntityOf<T>, P>;
}

export interface Rule {
  readonly name: string;
  readonly event: EventType;
  readonly parts: readonly string[];
  readonly apply: (event: RuleEvent, current: CurrentRecord | undefined) => Record<string, unknown> | undefined | null | void;
}

export function defineRule<T extends EventType, const P extends keyof EntityOf<T>['parts'] & string>(options: RuleOptions<T, P>): Rule {
  const entity = options.event.entity;
  const name = options.name ?? `${options.event.name}@v${options.event.version}`;
  if (options.parts.length === 0) throw new FlowDefinitionError(`rule "${name}" declares no parts`);
  for (const part of options.parts) {
    if (!(part in entity.parts)) {
      throw new FlowDefinitionError(`rule "${name}" declares part "${part}", which entity "${entity.name}" does not have`);
    }
  }
  return { name, event: options.event, parts: options.parts, apply: options.apply as Rule['apply'] };
}
