// Types flow from the flow definition to integrations, digests and sources, so
// a misspelled event, part or field fails at compile time; what types cannot
// see (names given as strings, objects of another flow) stops createHub with a
// ConfigError. `npm run typecheck` checks every @ts-expect-error below: one
// that no longer catches an error is itself an error, so none passes vacuously.
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { contactUpdated, customer, flow as customerFlow, subscriptionChanged } from '../examples/customer-sync/flow.js';
import { cashoutRegistered } from '../examples/pix-monitor/flow.js';
import { defineIntegration, type ChangeInput, type EventInput } from '../src/delivery/integration.js';
import { functionSink } from '../src/delivery/sinks/function-sink.js';
import { ConfigError } from '../src/errors/index.js';
import { createHub, type HubOptions } from '../src/hub/create-hub.js';
import { defineSource } from '../src/sources/source.js';
import { customDriver, type SourceDriver } from '../src/sources/source-driver.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import type { Json } from '../src/store/types.js';
import { account } from './support/flows.js';
import { tempDir } from './support/index.js';

const sink = functionSink(async () => undefined);
const noItems = customDriver(async () => ({ items: [], checkpoint: null })) as SourceDriver<unknown, Json>;
const at = new Date(0);
const eventInput = <N extends string, P>(name: N, payload: P): EventInput<N, P> => ({
  kind: 'event', name, version: 1, eventId: 'e1', flowId: 'f1', entity: 'customer', key: 'CC-1', payload, result: { entity: 'customer', key: 'CC-1', version: 1, changedParts: [] }, at,
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** createHub over a real SQLite file with the customer-sync flow; resolves with what it threw, if anything. */
async function start(options: Partial<Omit<HubOptions, 'store'>>): Promise<unknown> {
  const dir = tempDir();
  cleanups.push(dir.remove);
  const store = new SqliteStore({ path: join(dir.path, 'confluo.db') });
  await store.init();
  try {
    const hub = await createHub({ flow: customerFlow, store, apiKeys: [], adminTokens: [], logger: pino({ level: 'silent' }), ...options });
    cleanups.push(() => hub.close());
    return undefined;
  } catch (error) {
    cleanups.push(() => store.close());
    return error;
  }
}

describe('integrations subscribed with the flow\'s objects', () => {
  it('give map the payload of each event type, narrowed by its name', () => {
    const billing = defineIntegration({
      name: 'billing-mirror',
      on: { events: [contactUpdated, subscriptionChanged] },
      map: (input) => {
        // @ts-expect-error `plan` is on one of the two payloads only, until the name narrows it
        void input.payload.plan;
        return input.name === 'billing:subscription:changed' ? { body: { plan: input.payload.plan } } : { body: { email: input.payload.email } };
      },
      sink,
    });
    const payload = { documentType: 'CC', documentNumber: '1', plan: 'pro' as const, status: 'active' as const };
    expect(billing.map(eventInput('billing:subscription:changed', payload))).toEqual({ body: { plan: 'pro' } });
  });

  it('check part names against the entity and type the record', async () => {
    const misspelled = defineIntegration({
      name: 'desk',
      // @ts-expect-error "bilin" is not a part of customer
      on: { entity: customer, parts: ['contact', 'bilin'] },
      map: ({ record }) => ({ body: record.contact?.name ?? null }),
      sink,
    });
    defineIntegration({
      name: 'desk',
      on: { entity: customer, parts: ['contact'] },
      // @ts-expect-error the record has no part "contcat"
      map: ({ record }) => ({ body: record.contcat }),
      sink,
    });
    // A cast gets past the compiler; the hub still refuses to start.
    const error = await start({ integrations: [misspelled] });
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toHaveProperty('message', 'integration "desk" subscribes to part "bilin", which entity "customer" does not have (it has: contact, billing, preferences)');
    const input: ChangeInput<typeof customer> = { kind: 'change', entity: 'customer', key: 'CC-1', version: 1, changedParts: ['contact'], diffs: [], record: { contact: { name: 'Ana', email: 'ana@example.com' } }, cause: { eventId: 'e1', flowId: 'f1', rule: 'r' }, at };
    expect(misspelled.map(input)).toEqual({ body: 'Ana' });
  });

  it('give a digest\'s fold the type of the bodies map returns', () => {
    const digest = defineIntegration({
      name: 'cashouts',
      on: { events: [cashoutRegistered] },
      map: ({ payload }) => ({ body: { account: payload.account, cents: payload.amountCents } }),
      digest: {
        windowMs: 60_000,
        fold: (items) => {
          // @ts-expect-error the mapped bodies have `cents`, not `amountCents`
          void items[0]?.amountCents;
          return { body: items.reduce((sum, item) => sum + item.cents, 0) };
        },
      },
      sink,
    });
    expect(digest.digest?.fold([{ account: 'A', cents: 5 }, { account: 'B', cents: 7 }], { start: at, end: at })).toEqual({ body: 12 });
  });

  it('refuse, at compile time, an event payload field the schema does not have', () => {
    const cashouts = defineIntegration({
      name: 'cashouts',
      on: { events: [cashoutRegistered] },
      // @ts-expect-error the payload has `account`, not `acount`
      map: ({ payload }) => ({ body: payload.acount }),
      sink,
    });
    expect(cashouts.on).toEqual({ events: ['pix:cashout:registered@v1'] });
  });
});

describe('createHub checks every subscription against the flow', () => {
  it('refuses an event name given as a string that the flow does not have', async () => {
    const error = await start({ integrations: [defineIntegration({ name: 'crm-mirror', on: { events: ['crm:contact:updatd'] }, map: () => ({ body: null }), sink })] });
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toHaveProperty('message', expect.stringMatching(/^integration "crm-mirror" subscribes to event "crm:contact:updatd", which the flow does not list \(it has: crm:contact:updated@v1, /));
  });

  it('refuses an event type or an entity of another flow', async () => {
    const eventElsewhere = await start({ integrations: [defineIntegration({ name: 'pix', on: { events: [cashoutRegistered] }, map: () => ({ body: null }), sink })] });
    expect(eventElsewhere).toBeInstanceOf(ConfigError);
    expect(eventElsewhere).toHaveProperty('message', expect.stringMatching(/^integration "pix" subscribes to event "pix:cashout:registered@v1", which the flow does not list/));
    const entityElsewhere = await start({ integrations: [defineIntegration({ name: 'ledger', on: { entity: account }, map: () => ({ body: null }), sink })] });
    expect(entityElsewhere).toBeInstanceOf(ConfigError);
    expect(entityElsewhere).toHaveProperty('message', 'integration "ledger" subscribes to entity "account", which the flow does not list (it has: customer)');
  });

  it('accepts names given as strings that the flow has, in either form', async () => {
    const named = defineIntegration({ name: 'named', on: { events: ['crm:contact:updated', 'billing:subscription:changed@v1'] }, map: () => ({ body: null }), sink });
    expect(await start({ integrations: [named] })).toBeUndefined();
  });

  it('refuses a source whose event type the flow does not have', async () => {
    const error = await start({ sources: [defineSource({ name: 'pix-log', driver: noItems, schedule: { every: '1h' }, emits: cashoutRegistered, id: () => 'x' })], pull: false });
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toHaveProperty('message', 'source "pix-log" makes pix:cashout:registered v1 events, which the flow does not list');
  });
});

describe('sources typed by their item schema and the event type they emit', () => {
  it('type id and map by the item schema and hold map to the emitted payload', () => {
    const item = z.object({ doc: z.string(), plan: z.enum(['free', 'pro', 'enterprise']), at: z.string() });
    const base = { name: 'billing', driver: noItems, schedule: { every: '1h' }, item, emits: subscriptionChanged, id: (s: z.output<typeof item>) => `${s.doc}@${s.at}` };
    const source = defineSource({
      ...base,
      map: (s) => ({ documentType: 'CC', documentNumber: s.doc, plan: s.plan, status: 'active' }),
    });
    defineSource({
      ...base,
      // @ts-expect-error the item has `plan`, not `plann`
      map: (s) => ({ documentType: 'CC', documentNumber: s.doc, plan: s.plann, status: 'active' }),
    });
    defineSource({
      ...base,
      // @ts-expect-error the payload of billing:subscription:changed needs a status
      map: (s) => ({ documentType: 'CC', documentNumber: s.doc, plan: s.plan }),
    });
    expect(source.map({ doc: '1', plan: 'pro', at: 't' })).toEqual({ documentType: 'CC', documentNumber: '1', plan: 'pro', status: 'active' });
  });
});
