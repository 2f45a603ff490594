// The testing kit under node:test (no vitest anywhere): run by
// node-test.test.ts as `node --import tsx --test`, as a user's suite would be.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { account, entryPosted, ledgerFlow } from '../../test/support/flows.js';
import { defineIntegration } from '../delivery/integration.js';
import { captureSink, createTestHub, type TestHub } from './index.js';

const books = captureSink({ url: 'https://books.example.com/accounts/{key}' });
let hub: TestHub;

before(async () => {
  hub = await createTestHub({
    flow: ledgerFlow,
    integrations: [defineIntegration({ name: 'books', on: { entity: account }, map: ({ key }) => ({ body: { key } }), sink: books })],
  });
});
after(() => hub.close());

test('an entry posted under node:test is applied and sent', async () => {
  await hub.send(entryPosted, { id: 'A', amount: 3, label: 'first' });
  await hub.settled();
  assert.equal((await hub.record(account, 'A'))?.parts.ledger?.balance, 3);
  assert.deepEqual(books.requests.map((r) => r.url), ['https://books.example.com/accounts/A']);
  assert.deepEqual((await hub.deliveries('books')).map((d) => d.status), ['succeeded']);
});
