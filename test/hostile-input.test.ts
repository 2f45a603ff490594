// Issue 13's input defects, each pinned on both stores: what a hostile or
// careless client sends is refused at the door with badRequest/badProtocol
// naming the field, fails alone, and blocks no one; whatever is accepted can be
// read back through the read API.
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { LIMITS } from '../src/protocol/limits.js';
import { PostgresStore } from '../src/store/postgres/index.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { API_KEY, contact, envelope, startTestHub, type TestHub } from './support/index.js';

/** A JSON text `depth` objects deep, built as text: JSON.stringify itself overflows on it. */
const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const contactEvent = (number: string, extra: Record<string, unknown> = {}) => envelope('crm:contact:updated', contact(number, 'Ana'), extra);

const stores = [
  { name: 'SQLite', store: async () => ({ store: undefined, drop: async () => undefined }) },
  {
    name: 'PostgreSQL',
    store: async () => {
      const db: TestDatabase = await createTestDatabase('hostile');
      const store = new PostgresStore({ url: db.url });
      await store.init();
      return { store, drop: () => db.drop() };
    },
  },
];

describe.each(stores)('hostile input on $name', ({ store: makeStore }) => {
  let t: TestHub | undefined;
  let drop: () => Promise<unknown> = async () => undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
    await drop();
  });

  async function start(): Promise<TestHub> {
    const made = await makeStore();
    drop = made.drop;
    t = await startTestHub({ ...(made.store ? { store: made.store } : {}), ingest: { waitTimeoutMs: 5000 } });
    return t;
  }

  async function bulk(hub: TestHub, body: string): Promise<Array<Record<string, any>>> {
    const response = await request(`${hub.url}/events/bulk`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` }, body });
    return (await response.body.json()) as Array<Record<string, any>>;
  }

  it('refuses a lone surrogate in a key field, and the next event is processed (defect 1)', async () => {
    const hub = await start();
    for (const name of ['Ana', 'Bia']) {
      const answer = await hub.send(envelope('crm:contact:updated', contact('k\ud800', name)));
      expect(answer.body.name).toBe('crm:contact:updated:badRequest');
      expect(answer.body.payload).toMatchObject({ code: 'INVALID_PAYLOAD', parameters: { fields: [{ name: 'documentNumber', errorType: 'invalid_text' }] } });
    }
    const next = await hub.send(contactEvent('1015', { metadata: { wait: true } }));
    expect(next.body.payload).toMatchObject({ status: 'processed', key: 'CC-1015', version: 1 });
  });

  it('answers each event of a bulk on its own: a too-deep or unstorable one fails alone, its neighbours are accepted (defects 3, 9)', async () => {
    const hub = await start();
    const good = [contactEvent('1'), contactEvent('2'), contactEvent('3')];
    const deep = JSON.stringify(contactEvent('4', { payload: '__DEEP__' })).replace('"__DEEP__"', nested(5000));
    const body = `[${JSON.stringify(good[0])},${deep},${JSON.stringify({ ...good[1], id: 'bad\u0000id' })},${JSON.stringify(good[1])},${JSON.stringify({ ...contactEvent('5'), flowId: 'f\ud800' })},${JSON.stringify(good[2])}]`;
    const answers = await bulk(hub, body);
    expect(answers.map((a) => a.name)).toEqual([
      'crm:contact:updated:response',
      'crm:contact:updated:badRequest',
      'badProtocol',
      'crm:contact:updated:response',
      'badProtocol',
      'crm:contact:updated:response',
    ]);
    expect(answers[1]?.payload).toMatchObject({ code: 'INVALID_PAYLOAD', parameters: { fields: [{ errorType: 'too_deep' }] } });
    expect(answers[2]?.payload).toMatchObject({ code: 'INVALID_COMMUNICATION_PROTOCOL', parameters: { propertyName: 'id' } });
    expect(answers[4]?.payload).toMatchObject({ code: 'INVALID_COMMUNICATION_PROTOCOL', parameters: { propertyName: 'flowId' } });
    for (const e of good) expect((await hub.get(`/api/v1/events/${e.id}`)).status).toBe(200);
  });

  it('refuses ids, flow ids, names and keys past their limits with an answer naming the field (defects 3, 6, 9)', async () => {
    const hub = await start();
    const long = 'x'.repeat(LIMITS.maxIdLength + 1);
    for (const property of ['id', 'flowId', 'name'] as const) {
      const answer = await hub.send({ ...contactEvent('1'), [property]: long });
      expect(answer.body.name).toBe('badProtocol');
      expect(answer.body.payload).toMatchObject({ code: 'INVALID_COMMUNICATION_PROTOCOL', parameters: { propertyName: property, message: expect.stringContaining(`at most ${LIMITS.maxIdLength}`) } });
    }
    const longKey = await hub.send(contactEvent('9'.repeat(4000)));
    expect(longKey.body.name).toBe('crm:contact:updated:badRequest');
    expect(longKey.body.payload.parameters.fields[0]).toMatchObject({ name: 'documentType, documentNumber', errorType: 'invalid_key' });
    const nul = await hub.send({ ...contactEvent('1'), metadata: { 'note\u0000': 1 } });
    expect(nul.body.payload).toMatchObject({ parameters: { propertyName: 'metadata' } });
  });

  it('reads back through the API every id and key it accepted, at their longest (defect 6)', async () => {
    const hub = await start();
    // The key is "CC-" plus the number: the longest number that keeps it within the limit, in a non-ASCII script.
    const number = 'ñ'.repeat(LIMITS.maxKeyLength - 3);
    const id = 'é'.repeat(LIMITS.maxIdLength);
    const answer = await hub.send({ ...contactEvent(number, { metadata: { wait: true } }), id });
    expect(answer.body.payload).toMatchObject({ status: 'processed', version: 1 });
    const record = await hub.get(`/api/v1/entities/customer/${encodeURIComponent(`CC-${number}`)}`);
    expect(record.status).toBe(200);
    expect(record.body.key).toBe(`CC-${number}`);
    const trace = await hub.get(`/api/v1/events/${encodeURIComponent(id)}`);
    expect(trace.status).toBe(200);
    expect(trace.body.eventId).toBe(id);
  });
});
