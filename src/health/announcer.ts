// Turns a monitor's transition (or a reminder of it) into deliveries for every
// integration subscribed to that monitor, as the outbox does for changes. The
// store calls it inside the transaction that writes the transition, so a
// transition and its announcements commit together, once. A mapping that
// throws becomes a failed delivery with the error; a skip is kept as ignored.
import { newDeliveryId } from '../delivery/outbox.js';
import { isSkip, type Integration, type MonitorInput } from '../delivery/integration.js';
import type { NewDelivery } from '../store/delivery-types.js';
import type { Announcer, MonitorKind } from '../store/health-types.js';
import type { Monitor } from './monitor.js';

const subscribed = (integration: Integration, monitor: string): boolean => {
  const on = integration.on;
  if (!('monitors' in on)) return false;
  return on.monitors === 'all' || on.monitors.includes(monitor);
};

/**
 * `monitors` are the configured ones, for their kind; any other name is one of the hub's own
 * processes (`process:<id>`): only the process registry writes transitions of monitors not configured.
 * `clock` dates reminders (a transition is dated by its own `at`).
 */
export function createAnnouncer(integrations: readonly Integration[], monitors: readonly Pick<Monitor, 'name' | 'kind'>[] = [], clock: () => number = Date.now): Announcer {
  const active = integrations.filter((i) => i.disabled === false && 'monitors' in i.on);
  const kinds = new Map<string, MonitorKind>(monitors.map((m) => [m.name, m.kind]));
  return (transition, reminder) => {
    const listeners = active.filter((i) => subscribed(i, transition.monitor));
    if (listeners.length === 0) return [];
    const at = reminder ? clock() : transition.at;
    const eventId = reminder ? `transition:${transition.id}:reminder:${at}` : `transition:${transition.id}`;
    const input: MonitorInput = Object.freeze({
      kind: 'monitor',
      monitor: transition.monitor,
      monitorKind: kinds.get(transition.monitor) ?? 'process',
      from: transition.from,
      to: transition.to,
      reminder,
      transitionId: transition.id,
      at: new Date(at),
      since: new Date(transition.at),
      message: transition.message,
      details: transition.details,
    });
    const deliveries: NewDelivery[] = [];
    for (const integration of listeners) {
      const base = { deliveryId: newDeliveryId(at), integration: integration.name, kind: 'monitor' as const, entity: 'monitor', key: transition.monitor, eventId, version: null, createdAt: at };
      let mapped;
      try {
        mapped = integration.map(input);
      } catch (error) {
        deliveries.push({ ...base, request: undefined, status: 'failed', reason: `mapping threw: ${error instanceof Error ? error.message : String(error)}` });
        continue;
      }
      if (isSkip(mapped)) deliveries.push({ ...base, request: undefined, status: 'ignored', reason: mapped.skip });
      else deliveries.push({ ...base, request: mapped, status: 'pending' });
    }
    return deliveries;
  };
}
