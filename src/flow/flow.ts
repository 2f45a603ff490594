// A flow is the whole definition a hub runs: entities, event types and one
// rule per event type. It is checked once, here, so the engine can trust it.
import { FlowDefinitionError } from '../errors/index.js';
import type { Entity } from './entity.js';
import { eventTypeId, type EventType } from './event-type.js';
import type { Rule } from './rule.js';

export interface FlowOptions {
  entities: readonly Entity[];
  events: readonly EventType[];
  rules: readonly Rule[];
}

export interface Flow {
  readonly entities: ReadonlyMap<string, Entity>;
  readonly events: ReadonlyMap<string, EventType>;
  /** Keyed by `eventTypeId(name, version)`. */
  readonly rules: ReadonlyMap<string, Rule>;
  eventType(name: string, version: number): EventType | undefined;
  ruleFor(name: string, version: number): Rule | undefined;
}

export function defineFlow(options: FlowOptions): Flow {
  const entities = new Map<string, Entity>();
  for (const entity of options.entities) {
    if (entities.has(entity.name)) throw new FlowDefinitionError(`entity "${entity.name}" is defined twice`);
    entities.set(entity.name, entity);
  }
  const events = new Map<string, EventType>();
  for (const type of options.events) {
    const id = eventTypeId(type.name, type.version);
    if (events.has(id)) throw new FlowDefinitionError(`event type ${id} is defined twice`);
    if (entities.get(type.entity.name) !== type.entity) {
      throw new FlowDefinitionError(`event type ${id} concerns entity "${type.entity.name}", which the flow does not list`);
    }
    events.set(id, type);
  }
  const rules = new Map<string, Rule>();
  for (const rule of options.rules) {
    const id = eventTypeId(rule.event.name, rule.event.version);
    if (events.get(id) !== rule.event) throw new FlowDefinitionError(`rule "${rule.name}" is for event type ${id}, which the flow does not list`);
    if (rules.has(id)) throw new FlowDefinitionError(`event type ${id} has two rules ("${rules.get(id)?.name}" and "${rule.name}")`);
    rules.set(id, rule);
  }
  return {
    entities,
    events,
    rules,
    eventType: (name, version) => events.get(eventTypeId(name, version)),
    ruleFor: (name, version) => rules.get(eventTypeId(name, version)),
  };
}
