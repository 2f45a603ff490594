// The testing kit under vitest: events in as over HTTP, settled() after the
// processor and the dispatcher did what they can, records, audit, deliveries,
// and capturing sinks that keep signed requests. (node-test.test.ts runs the
// same kit under node:test.)
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { account, entryPosted, ledgerFlow, ownerSet } from '../../test/support/flows.js';
import { defineIntegration } from '../delivery/integration.js';
import { restSink } from '../delivery/sinks/rest-sink.js';
import { captureSink, createTestHub, EventRefusedError, type TestHub } from './index.js';

describe('createTestHub', () => {
  let hub: TestHub | undefined;
  afterEach(async () => {
    await hub?.close();
    hub = undefined;
  });

  it('applies sent events, waits until deliveries were sent, and shows records, audit, deliveries and signed requests', async () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const books = captureSink({ url: 'https://books.example.com/accounts/{key}', secret });
    hub = await createTestHub({
      flow: ledgerFlow,
      integrations: [defineIntegration({ name: 'books', on: { entity: account, parts: ['ledger'] }, map: ({ key, record }) => ({ body: { key, balance: record.ledger?.balance } }), sink: books })],
    });
    expect(await hub.send(entryPosted, { id: 'A', amount: 5, label: 'first' }, { id: 'evt-1' })).toEqual({ status: 'accepted', eventId: 'evt-1' });
    await hub.send(entryPosted, { id: 'A', amount: 7, label: 'second' });
    await hub.send(ownerSet, { id: 'A', owner: 'Ana' });
    expect(await hub.send(entryPosted, { id: 'A', amount: 5, label: 'first' }, { id: 'evt-1' })).toEqual({ status: 'duplicate', eventId: 'evt-1' });
    await hub.settled();
    expect(books.requests).toHaveLength(2);

    const record = await hub.record(account, { id: 'A' });
    expect(record).toMatchObject({ version: 3, parts: { ledger: { balance: 12, entries: 2 }, profile: { owner: 'Ana' } } });
    expect(await hub.record('account', 'A')).toEqual(record);
    expect((await hub.audit(account, 'A')).map((a) => [a.field, a.newValue])).toContainEqual(['balance', 12]);
    expect((await hub.deliveries('books')).map((d) => [d.status, d.version])).toEqual([['succeeded', 1], ['succeeded', 2]]);

    // The profile change is not the integration's business: two requests, in order, signed.
    expect(books.requests.map((r) => [r.method, r.url, r.body])).toEqual([
      ['POST', 'https://books.example.com/accounts/A', { key: 'A', balance: 5 }],
      ['POST', 'https://books.example.com/accounts/A', { key: 'A', balance: 12 }],
    ]);
    const first = books.requests[0]!;
    expect(first.headers['webhook-id']).toMatch(/^msg_/);
    expect(new Webhook(secret).verify(first.raw, first.headers)).toEqual({ key: 'A', balance: 5 });
  });

  it('refuses an event as the HTTP API would, naming the fields', async () => {
    hub = await createTestHub({ flow: ledgerFlow });
    // A cast stands for what a sender outside TypeScript may send.
    const refused = await hub.send(entryPosted, { id: 'A', amount: 1.5, label: 'x' } as never).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(EventRefusedError);
    expect(refused).toMatchObject({ type: 'badRequest', code: 'INVALID_PAYLOAD', parameters: { fields: [expect.objectContaining({ name: 'amount' })] } });
    expect(() => hub!.captured('books')).toThrow(/pass \{ capture: true \}/);
  });

  it('settles with a parked key and with a retry scheduled later; capture swaps a REST sink and answers as told', async () => {
    hub = await createTestHub(
      {
        flow: ledgerFlow,
        integrations: [
          defineIntegration({
            name: 'books',
            on: { events: ['ledger:entry:posted'] },
            map: ({ key }) => ({ body: { key } }),
            sink: restSink({ url: 'https://books.example.com/entries/{key}', method: 'PUT' }),
            retry: { delaysMs: [0, 60_000] },
          }),
        ],
      },
      { capture: { status: (request) => (request.url.endsWith('/B') ? 503 : 200) } },
    );
    await hub.send(entryPosted, { id: 'P', amount: 1, label: 'boom', fail: true });
    await hub.send(entryPosted, { id: 'P', amount: 1, label: 'waits behind it' });
    await hub.send(entryPosted, { id: 'A', amount: 1, label: 'fine' });
    await hub.send(entryPosted, { id: 'B', amount: 1, label: 'receiver down' });
    const started = Date.now();
    await hub.settled();
    expect(Date.now() - started).toBeLessThan(5000);

    expect(await hub.record(account, 'P')).toBeUndefined();
    expect((await hub.hub.store.inbox.listParked()).map((p) => [p.key, p.waiting])).toEqual([['P', 2]]);
    expect(hub.captured('books').map((r) => [r.method, r.url, r.status])).toEqual([
      ['PUT', 'https://books.example.com/entries/A', 200],
      ['PUT', 'https://books.example.com/entries/B', 503],
    ]);
    const [delivery] = (await hub.deliveries('books')).filter((d) => d.key === 'B');
    expect(delivery).toMatchObject({ status: 'pending', attempts: 1, lastStatus: 503 });
    expect(delivery!.nextAttemptAt).toBeGreaterThan(Date.now() + 30_000);
  });

  it('says what is left when it does not settle in time', async () => {
    hub = await createTestHub(
      {
        flow: ledgerFlow,
        integrations: [defineIntegration({ name: 'slow', on: { events: ['ledger:entry:posted'] }, map: () => ({ body: {} }), sink: restSink({ url: 'https://slow.example.com/' }) })],
      },
      { capture: true, settleTimeoutMs: 200 },
    );
    await hub.hub.dispatcher.stop();
    await hub.send(entryPosted, { id: 'A', amount: 1, label: 'x' });
    await expect(hub.settled()).rejects.toThrow(/not settled within 200 ms: 0 events queued, 1 deliveries due and not yet tried/);
  });
});
