// Field lineage: every value one field of a record has had, oldest first (the
// value, the event and rule that set it, when), where each value went (the
// deliveries of the record's versions that held it, with their attempts),
// and per integration the last value it received and why a newer one has not
// arrived. Built from store rows only, so the lineage route and `confluo
// lineage` (on the database directly) show the same thing.
import { iso } from '../api/iso.js';
import type { Integration } from '../delivery/integration.js';
import type { Entity } from '../flow/entity.js';
import type { DeliveryWithLog, IntegrationStateRow } from '../store/delivery-types.js';
import type { Store } from '../store/store.js';
import type { AuditEntry } from '../store/types.js';
import { deliveryView } from './flow-trace.js';

/** Values one lineage shows at most (the newest); a longer history says `truncated`. */
export const LINEAGE_VALUES_LIMIT = 1000;

/** Why the newest value has not reached an integration. */
export type MissingStatus = 'pending' | 'retrying' | 'paused' | 'disabled' | 'dead' | 'failed' | 'ignored' | 'not-sent';

/** `part.field`, checked against the entity's parts: the error names what is wrong. */
export function parseFieldPath(entity: Entity, path: string): { part: string; field: string } | { error: string } {
  const dot = path.indexOf('.');
  if (dot <= 0 || dot === path.length - 1) return { error: `field must be <part>.<field>, e.g. ${Object.keys(entity.parts)[0]}.<field>; got "${path}"` };
  const part = path.slice(0, dot);
  const field = path.slice(dot + 1);
  const schema = entity.parts[part];
  if (!schema) return { error: `entity "${entity.name}" has no part "${part}" (its parts: ${Object.keys(entity.parts).join(', ')})` };
  // A loose part (a catch-all) may hold fields its shape does not name.
  if (!(field in schema.shape) && schema.def.catchall === undefined) {
    return { error: `part "${part}" of entity "${entity.name}" has no field "${field}" (its fields: ${Object.keys(schema.shape).join(', ')})` };
  }
  return { part, field };
}

/** The integrations that get the entity's changes when `part` changes. */
export const subscribersOf = (integrations: Iterable<Integration>, entity: string, part: string): string[] =>
  [...integrations].filter((i) => 'entity' in i.on && i.on.entity === entity && (!i.on.parts || i.on.parts.includes(part))).map((i) => i.name);

/** The index of the value a delivery of record `version` carried: the newest set at or before it. */
function valueIndexAt(history: readonly AuditEntry[], version: number | null): number {
  if (version === null) return -1;
  let found = -1;
  for (let i = 0; i < history.length && history[i]!.version <= version; i += 1) found = i;
  return found;
}

function explainMissing(delivery: DeliveryWithLog | undefined, state: IntegrationStateRow | undefined, integration: string): { status: MissingStatus; reason: string } {
  if (!delivery) return { status: 'not-sent', reason: `no delivery to ${integration} carries this value (it was off, not yet configured, or sends digests when the value was set)` };
  const next = iso(delivery.nextAttemptAt);
  switch (delivery.status) {
    case 'pending':
      if (state?.state === 'paused') return { status: 'paused', reason: `${integration} is paused${state.reason ? ` (${state.reason})` : ''}; the delivery waits until it is resumed` };
      if (state?.state === 'disabled') return { status: 'disabled', reason: `${integration} is disabled${state.reason ? ` (${state.reason})` : ''}; the delivery waits until it is resumed` };
      if (delivery.attempts > 0) return { status: 'retrying', reason: `${delivery.attempts} attempt(s) failed so far (last: ${delivery.lastError ?? `HTTP ${delivery.lastStatus}`}); next attempt at ${next}` };
      return { status: 'pending', reason: `waiting for its first attempt at ${next}` };
    case 'dead':
      return { status: 'dead', reason: `gave up after ${delivery.totalAttempts} attempt(s): ${delivery.lastError ?? `HTTP ${delivery.lastStatus}`}` };
    case 'failed':
      return { status: 'failed', reason: `failed: ${delivery.lastError ?? `HTTP ${delivery.lastStatus}`}` };
    case 'ignored':
      return { status: 'ignored', reason: `the mapping skipped it: ${delivery.lastError ?? 'no reason given'}` };
    case 'succeeded':
      // Unreachable: a succeeded delivery of the newest value makes the integration up to date.
      return { status: 'not-sent', reason: 'delivered' };
  }
}

/**
 * The lineage of `part.field` of the record, or undefined when the key has no record.
 * `subscribers` are the integrations that get this field's changes (see `subscribersOf`); the
 * summary also covers any other integration a delivery of the key went to.
 */
export async function buildLineage(
  store: Pick<Store, 'records' | 'deliveries'>,
  target: { entity: string; key: string; part: string; field: string },
  subscribers: readonly string[],
  limit = LINEAGE_VALUES_LIMIT,
) {
  const { entity, key, part, field } = target;
  const record = await store.records.getRecord(entity, key);
  if (!record) return undefined;
  const rows = await store.records.listFieldHistory(entity, key, part, field, limit + 1);
  const history = rows.slice(-limit);
  const first = history[0];
  const [deliveries, states] = await Promise.all([
    first ? store.deliveries.listDeliveriesOfKey(entity, key, first.version) : Promise.resolve([]),
    store.deliveries.listIntegrationStates(),
  ]);
  const stateOf = new Map(states.map((s) => [s.name, s]));
  const carried = deliveries.map((d) => ({ delivery: d, index: valueIndexAt(history, d.version) }));
  const newest = history.length - 1;

  const integrations = [...new Set([...subscribers, ...deliveries.map((d) => d.integration)])].sort().map((name) => {
    const own = carried.filter((c) => c.delivery.integration === name);
    // The succeeded delivery of the newest record version; the later one of a version sent twice.
    const received = own.filter((c) => c.delivery.status === 'succeeded').reduce<(typeof own)[number] | undefined>((best, c) => (!best || (c.delivery.version ?? 0) >= (best.delivery.version ?? 0) ? c : best), undefined);
    const upToDate = history.length === 0 || received?.index === newest;
    const state = stateOf.get(name);
    let missing = null;
    if (!upToDate) {
      const carriers = own.filter((c) => c.index === newest).map((c) => c.delivery);
      // On its way beats finished; else the delivery of the change that set the value; else the latest.
      const why = carriers.findLast((d) => d.status === 'pending') ?? carriers.find((d) => d.version === history[newest]!.version) ?? carriers.at(-1);
      const entry = history[newest]!;
      missing = {
        value: entry.newValue ?? null,
        version: entry.version,
        setAt: iso(entry.at),
        ...explainMissing(why, state, name),
        deliveryId: why?.deliveryId ?? null,
        attempts: why?.totalAttempts ?? 0,
        lastError: why?.lastError ?? null,
        nextAttemptAt: iso(why?.nextAttemptAt ?? null),
      };
    }
    return {
      integration: name,
      subscribed: subscribers.includes(name),
      state: state?.state ?? 'active',
      stateReason: state?.reason ?? null,
      lastReceived: received
        ? { value: history[received.index]?.newValue ?? null, version: received.delivery.version, deliveryId: received.delivery.deliveryId, at: iso(received.delivery.completedAt) }
        : null,
      upToDate,
      missing,
    };
  });

  return {
    entity,
    key,
    field: `${part}.${field}`,
    current: record.parts[part]?.[field] ?? null,
    truncated: rows.length > limit,
    values: history.map((a, i) => ({
      value: a.newValue ?? null,
      previousValue: a.oldValue ?? null,
      version: a.version,
      eventId: a.eventId,
      flowId: a.flowId,
      rule: a.rule,
      at: iso(a.at),
      deliveries: carried.filter((c) => c.index === i).map((c) => deliveryView(c.delivery)),
    })),
    integrations,
  };
}

export type Lineage = NonNullable<Awaited<ReturnType<typeof buildLineage>>>;
