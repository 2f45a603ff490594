export { defineEntity, KeyError, type Entity, type EntityOptions, type EntityParts, type KeyValues, type PartsShape } from './entity.js';
export { defineEvent, eventTypeId, EVENT_NAME, type EventType, type EventTypeOptions } from './event-type.js';
export { defineRule, type CurrentRecord, type Rule, type RuleEvent, type RuleOptions, type RuleResult } from './rule.js';
export { defineFlow, type Flow, type FlowOptions } from './flow.js';
