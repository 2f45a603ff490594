// Property: whatever arrives, singly or in bulks mixed with valid events, on
// SQLite and on PostgreSQL, every request gets a well-formed envelope answer,
// every event answered `accepted` is applied exactly once in its key's order,
// and the only keys that stop are those whose rule failed.
import fc from 'fast-check';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../src/store/postgres/index.js';
import { ledgerFlow } from './support/flows.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { API_KEY, eventually, startTestHub, type TestHub } from './support/index.js';

/** Any UTF-16 code unit: lone surrogates and NUL included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
/** Any text, with the known troublemakers drawn often: a lone surrogate, a NUL, a length past every limit. */
const anyText = fc.oneof(
  { weight: 1, arbitrary: fc.string({ unit: codeUnit, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('k\ud800', '\udfffz', 'a\u0000b', '9'.repeat(4000)) },
);
const longText = fc.integer({ min: 0, max: 2 * 1024 * 1024 }).map((n) => 'x'.repeat(n));
/** Names of keys a real client might send: scripts, emoji, dots and spaces. */
const keyName = fc.constantFrom('ana', 'Ñandú', '漢字', '🙂x', '.', '..', 'a b', 'Zoë', '0');

/** What an event does if it is accepted: posts its label to its key, or fails there. */
interface Effect {
  id: string;
  key: string;
  label: string;
  fail: boolean;
}

/** One item of a request: an envelope as JSON text, what it does if accepted, and whether it must be. */
interface Item {
  json: string;
  effect?: Effect;
  mustAccept?: boolean;
}

let serial = 0;
const fresh = (prefix: string) => `${prefix}-${process.pid}-${(serial += 1)}`;

function validItem(run: string, key: string, fail: boolean, extra: Record<string, unknown>): Item {
  const id = fresh('ok');
  const label = fresh('l');
  const fullKey = `${run}:${key}`;
  const payload = { id: fullKey, amount: 1, label, ...(fail ? { fail: true } : {}), ...extra };
  const envelope = { name: 'ledger:entry:posted', version: 1, id, flowId: fresh('f'), payload, identity: {}, auth: {}, metadata: {} };
  return { json: JSON.stringify(envelope), effect: { id, key: fullKey, label, fail }, mustAccept: true };
}

/** An envelope posting `label` to `key`, as text with `payloadExtra` (JSON text) spliced into its payload. */
function spliced(run: string, key: string, payloadExtra: string, envelopeExtra = ''): Item {
  const id = fresh('h');
  const label = fresh('l');
  const json = `{"name":"ledger:entry:posted","version":1,"id":"${id}","flowId":"f","payload":{"id":${JSON.stringify(`${run}:${key}`)},"amount":1,"label":"${label}"${payloadExtra}}${envelopeExtra}}`;
  return { json, effect: { id, key: `${run}:${key}`, label, fail: false } };
}

/** Envelopes built to break something: bad text in every field, depth, size, prototype keys, non-envelopes. */
const hostile = (run: string): fc.Arbitrary<Item> =>
  fc.oneof(
    fc.record({ field: fc.constantFrom('id', 'flowId', 'name'), text: anyText }).map(({ field, text }): Item => {
      const item = validItem(run, 'h', false, {});
      const json = JSON.stringify({ ...(JSON.parse(item.json) as Record<string, unknown>), [field]: text });
      return { json, ...(item.effect && { effect: { ...item.effect, ...(field === 'id' ? { id: text } : {}) } }) };
    }),
    fc.record({ key: anyText, label: anyText, note: anyText }).map(({ key, label, note }): Item => {
      const id = fresh('h');
      const json = JSON.stringify({ name: 'ledger:entry:posted', version: 1, id, flowId: 'f', payload: { id: `${run}:${key}`, amount: 1, label, note }, metadata: { note } });
      return { json, effect: { id, key: `${run}:${key}`, label, fail: false } };
    }),
    fc.integer({ min: 1, max: 8000 }).map((depth) => spliced(run, 'deep', `,"x":${'['.repeat(depth)}${']'.repeat(depth)}`)),
    longText.map((text) => spliced(run, 'big', `,"blob":"${text}"`, `,"metadata":{"trace":"${text.slice(0, 300)}"}`)),
    fc.constantFrom('__proto__', 'constructor', 'prototype').map((name) =>
      spliced(run, 'proto', `,"${name}":{"polluted":true,"prototype":{"polluted":true}}`, `,"metadata":{"${name}":{"polluted":true}}`),
    ),
    fc.jsonValue({ maxDepth: 3 }).map((value): Item => ({ json: JSON.stringify(value) ?? 'null' })),
  );

const plan = (run: string) =>
  fc.array(
    fc.oneof(
      { weight: 3, arbitrary: fc.record({ key: keyName, fail: fc.boolean().map((b) => b && Math.random() < 0.3), note: anyText.filter((t) => t.isWellFormed() && !t.includes('\u0000')) }).map(({ key, fail, note }) => validItem(run, key, fail, { note })) },
      { weight: 2, arbitrary: hostile(run) },
    ),
    { minLength: 1, maxLength: 14 },
  ).chain((items) => fc.tuple(fc.constant(items), fc.array(fc.boolean(), { minLength: items.length, maxLength: items.length })));

/** Shape every answer must have, whatever was asked. */
function expectEnvelope(answer: unknown): void {
  expect(answer).toMatchObject({ name: expect.any(String), version: expect.any(Number), id: expect.any(String), flowId: expect.any(String), identity: {}, auth: {}, metadata: {} });
  expect((answer as { payload: unknown }).payload).toEqual(expect.any(Object));
}

const stores = [
  { name: 'SQLite', runs: 30, open: async () => ({ hub: await startTestHub({ flow: ledgerFlow }), drop: async () => undefined }) },
  {
    name: 'PostgreSQL',
    runs: 40,
    open: async () => {
      const db: TestDatabase = await createTestDatabase('property');
      const store = new PostgresStore({ url: db.url });
      await store.init();
      return { hub: await startTestHub({ flow: ledgerFlow, store }), drop: () => db.drop() };
    },
  },
];

describe.each(stores)('any input on $name', ({ open, runs }) => {
  let t: TestHub;
  let drop: () => Promise<unknown>;
  beforeAll(async () => {
    ({ hub: t, drop } = await open());
  });
  afterAll(async () => {
    await t?.close();
    await drop?.();
  });

  async function post(path: string, body: string): Promise<unknown> {
    const response = await request(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` }, body });
    expect(response.statusCode).toBe(200);
    return response.body.json();
  }

  it('answers every request with an envelope, applies every accepted event once in order, and parks only failed keys', { timeout: 240_000 }, async () => {
    let runNo = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constant(null).chain(() => plan(`r${(runNo += 1)}-${process.pid}`)),
        async ([items, alone]) => {
          // Consecutive items marked `alone` go one per request; the others gather into bulks.
          const accepted: Effect[] = [];
          let bulk: Item[] = [];
          const flush = async () => {
            if (bulk.length === 0) return;
            const answers = (await post('/events/bulk', `[${bulk.map((i) => i.json).join(',')}]`)) as unknown[];
            expect(answers).toHaveLength(bulk.length);
            answers.forEach((answer, i) => note(bulk[i] as Item, answer));
            bulk = [];
          };
          const note = (item: Item, answer: unknown) => {
            expectEnvelope(answer);
            const status = (answer as { payload: { status?: string } }).payload.status;
            if (item.mustAccept) expect(status).toBe('accepted');
            if (status !== 'accepted') return;
            if (!item.effect) throw new Error(`accepted what is no event of ours: ${item.json.slice(0, 200)}`);
            accepted.push(item.effect);
          };
          for (const [i, item] of items.entries()) {
            // A single request is capped at 1 MiB: bigger ones are answered badProtocol, as asserted by shape.
            if (alone[i]) {
              await flush();
              note(item, await post('/events', item.json));
            } else {
              bulk.push(item);
            }
          }
          await flush();

          // Per key: the labels before its first failing event are applied, in order; a failing event parks the key.
          const keys = new Map<string, { labels: string[]; parkedAt?: string }>();
          for (const v of accepted) {
            const k = keys.get(v.key) ?? { labels: [] };
            keys.set(v.key, k);
            if (k.parkedAt) continue;
            if (v.fail) k.parkedAt = v.id;
            else k.labels.push(v.label);
          }
          await eventually(
            async () => {
              for (const [key, k] of keys) {
                const ledger = (await t.get(`/api/v1/entities/account/${encodeURIComponent(key)}`)).body?.parts?.ledger;
                if ((ledger?.history ?? []).length !== k.labels.length) return false;
              }
              const parked = (await t.get('/api/v1/parked')).body.items as Array<{ key: string; eventId: string }>;
              return [...keys].every(([key, k]) => !k.parkedAt || parked.some((p) => p.key === key && p.eventId === k.parkedAt));
            },
            20_000,
            'every accepted event to be applied or parked',
          );
          const parked = (await t.get('/api/v1/parked')).body.items as Array<{ key: string; eventId: string }>;
          for (const [key, k] of keys) {
            const ledger = (await t.get(`/api/v1/entities/account/${encodeURIComponent(key)}`)).body?.parts?.ledger;
            expect(ledger?.history ?? []).toEqual(k.labels);
            expect(parked.filter((p) => p.key === key).map((p) => p.eventId)).toEqual(k.parkedAt ? [k.parkedAt] : []);
          }
          // Nothing hostile got into the store as a key of ours, and no prototype was polluted.
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        },
      ),
      { numRuns: runs },
    );
  });
});
