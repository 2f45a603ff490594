// What a hub still has to do on its own, for `settled()`: events of unparked
// keys still queued, and deliveries due that were not tried yet. A delivery
// waiting for a retry later, held by a paused or disabled integration, or
// queued behind a retrying one of its key (ordered integrations) is not work
// the hub will do now, so it does not count.
import type { Integration } from '../delivery/integration.js';
import type { Delivery, DeliveryFilter } from '../store/delivery-types.js';
import type { Store } from '../store/store.js';

const PAGE = 500;

/** Every delivery the filter selects, oldest first (the store pages newest first). */
export async function deliveriesOldestFirst(store: Store, filter: Omit<DeliveryFilter, 'limit' | 'before'>): Promise<Delivery[]> {
  const newestFirst: Delivery[] = [];
  for (;;) {
    const before = newestFirst.at(-1)?.seq;
    const page = await store.deliveries.listDeliveries({ ...filter, limit: PAGE, ...(before !== undefined ? { before } : {}) });
    newestFirst.push(...page);
    if (page.length < PAGE) return newestFirst.reverse();
  }
}

export async function outstanding(store: Store, integrations: readonly Integration[], now: number): Promise<{ events: number; deliveries: number }> {
  const [{ queued }, parked] = await Promise.all([store.stats(), store.inbox.listParked()]);
  // A parked key's queued events wait for an operator; its `waiting` counts the parked event too, which is not queued.
  const events = queued - parked.reduce((n, p) => n + p.waiting - 1, 0);
  const states = new Map((await store.deliveries.listIntegrations()).map((i) => [i.name, i.state]));
  const ordered = new Set(integrations.filter((i) => i.ordered).map((i) => i.name));
  const retrying = new Set<string>();
  let deliveries = 0;
  for (const d of await deliveriesOldestFirst(store, { status: 'pending' })) {
    const lane = `${d.integration}\u0000${d.entity}\u0000${d.key}`;
    if (d.attempts > 0) retrying.add(lane);
    else if (states.get(d.integration) === 'active' && !(ordered.has(d.integration) && retrying.has(lane)) && (d.nextAttemptAt ?? now) <= now) deliveries += 1;
  }
  return { events, deliveries };
}
