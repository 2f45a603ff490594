// Checks an integration's subscription against the flow the hub runs (or,
// for monitors, against the configured monitors). A name given as a string,
// or a flow that lost an event type, would otherwise never match anything:
// the integration would just never fire.
import { ConfigError } from '../errors/index.js';
import type { Flow } from '../flow/flow.js';
import type { Integration } from './integration.js';

export function checkSubscription(flow: Flow, integration: Integration): void {
  const where = `integration "${integration.name}"`;
  const on = integration.on;
  if ('monitors' in on) return; // checked against the monitors by checkMonitorSubscription
  if ('entity' in on) {
    const entity = flow.entities.get(on.entity);
    if (!entity) throw new ConfigError(`${where} subscribes to entity "${on.entity}", which the flow does not list (it has: ${[...flow.entities.keys()].join(', ')})`);
    for (const part of on.parts ?? []) {
      if (!Object.hasOwn(entity.parts, part)) {
        throw new ConfigError(`${where} subscribes to part "${part}", which entity "${entity.name}" does not have (it has: ${Object.keys(entity.parts).join(', ')})`);
      }
    }
    return;
  }
  // A name matches every version; a `name@vN` id (a subscription to an event type) only that one.
  const names = new Set([...flow.events.values()].map((type) => type.name));
  for (const event of on.events) {
    if (!names.has(event) && !flow.events.has(event)) {
      throw new ConfigError(`${where} subscribes to event "${event}", which the flow does not list (it has: ${[...flow.events.keys()].join(', ')})`);
    }
  }
}

/** Refuses a subscription to a monitor the hub does not run (`'all'` always matches). */
export function checkMonitorSubscription(integration: Integration, monitorNames: ReadonlySet<string>): void {
  const on = integration.on;
  if (!('monitors' in on) || on.monitors === 'all') return;
  for (const name of on.monitors) {
    if (!monitorNames.has(name)) {
      const known = monitorNames.size === 0 ? 'none are configured' : `it has: ${[...monitorNames].join(', ')}`;
      throw new ConfigError(`integration "${integration.name}" subscribes to monitor "${name}", which the hub does not run (${known})`);
    }
  }
}
