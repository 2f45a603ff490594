// The events-protocol server over real HTTP on a real hub: every answer is
// HTTP 200 with an eight-field response envelope named after what happened.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { flow as customerFlow } from '../../examples/customer-sync/flow.js';
import { API_KEY, contact, envelope, startTestHub, tempDir, type TestHub } from '../../test/support/index.js';
import { createHub } from '../hub/create-hub.js';
import { SqliteStore } from '../store/sqlite/index.js';
import { EventError } from './event-error.js';
import { HandlerRegistry, redirect, respond } from './registry.js';

const ENVELOPE_FIELDS = ['auth', 'flowId', 'id', 'identity', 'metadata', 'name', 'payload', 'version'];

/** Every answer must be a full response envelope: the eight fields, with the right types. */
function expectFullEnvelope(body: Record<string, any>): void {
  expect(Object.keys(body).sort()).toEqual(ENVELOPE_FIELDS);
  expect(typeof body.name).toBe('string');
  expect(Number.isInteger(body.version)).toBe(true);
  expect(typeof body.id).toBe('string');
  expect(body.id.length).toBeGreaterThan(0);
  expect(typeof body.flowId).toBe('string');
  expect(body.flowId.length).toBeGreaterThan(0);
  expect(body.identity).toEqual({});
  expect(body.auth).toEqual({});
  expect(body.metadata).toEqual({});
}

/** Raw POST, for bodies and headers the support helper does not send. */
async function post(url: string, path: string, body: string | undefined, headers: Record<string, string> = {}) {
  const response = await request(`${url}${path}`, { method: 'POST', headers, ...(body === undefined ? {} : { body }) });
  const text = await response.body.text();
  return { status: response.statusCode, text, body: JSON.parse(text) as any };
}

const bearer = { authorization: `Bearer ${API_KEY}` };
const json = { 'content-type': 'application/json' };

/** Users' own handlers, served beside the customer-sync flow's event types. */
function userRegistry(): HandlerRegistry {
  return new HandlerRegistry()
    .register({
      name: 'test:boom',
      version: 1,
      payload: z.unknown(),
      handle() {
        throw new Error('kaboom: internal detail that must not leak');
      },
    })
    .register({
      name: 'test:denied',
      version: 1,
      payload: z.unknown(),
      handle() {
        throw new EventError('forbidden', 'NOPE', { a: 1 });
      },
    })
    .register({
      name: 'test:go',
      version: 1,
      payload: z.unknown(),
      handle: () => redirect('https://example.com/continue', { step: 2, token: 'abc' }),
    })
    .register({
      name: 'test:ping',
      version: 1,
      public: true,
      payload: z.object({ say: z.string() }),
      handle: (req) => respond({ pong: req.payload.say }),
    })
    .register({
      name: 'test:nested',
      version: 1,
      payload: z.object({ items: z.array(z.object({ amount: z.number() })) }),
      handle: (req) => respond({ parsed: req.payload, raw: req.rawPayload }),
    })
    .register({ name: 'test:echo', version: 1, payload: z.unknown(), handle: () => respond({ from: 'v1' }) })
    .register({ name: 'test:echo', version: 2, payload: z.unknown(), handle: () => respond({ from: 'v2' }) });
}

describe('events protocol over HTTP', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub({ process: false, registry: userRegistry() });
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('success', () => {
    it('answers HTTP 200 with `<name>:response`, all eight fields, keeping the request id and flowId', async () => {
      const e = envelope('crm:contact:updated', contact('1015', 'Ana'));
      const answer = await t.send(e);
      expect(answer.status).toBe(200);
      expectFullEnvelope(answer.body);
      expect(answer.body).toEqual({
        name: 'crm:contact:updated:response',
        version: 1,
        id: e.id,
        flowId: e.flowId,
        payload: { status: 'accepted', eventId: e.id },
        identity: {},
        auth: {},
        metadata: {},
      });
    });

    it('dispatches by (name, version): the same name at two versions reaches two handlers', async () => {
      const v1 = await t.send(envelope('test:echo', {}, { version: 1 }));
      const v2 = await t.send(envelope('test:echo', {}, { version: 2 }));
      expect(v1.body).toMatchObject({ name: 'test:echo:response', version: 1, payload: { from: 'v1' } });
      expect(v2.body).toMatchObject({ name: 'test:echo:response', version: 2, payload: { from: 'v2' } });
    });

    it('accepts envelopes whose identity, auth and metadata are null or absent (Python clients)', async () => {
      const e = envelope('crm:contact:updated', contact('1016', 'Bea'), { identity: null, auth: null, metadata: null });
      const answer = await t.send(e);
      expectFullEnvelope(answer.body);
      expect(answer.body).toMatchObject({ name: 'crm:contact:updated:response', id: e.id });
      const { identity: _i, auth: _a, metadata: _m, ...bare } = envelope('crm:contact:updated', contact('1017', 'Cy'));
      const answer2 = await t.send(bare);
      expect(answer2.body).toMatchObject({ name: 'crm:contact:updated:response', id: bare.id });
    });
  });

  describe('badRequest', () => {
    it('answers `<name>:badRequest` listing each failing payload field with a message', async () => {
      const e = envelope('crm:contact:updated', { documentType: 'CC', documentNumber: '', name: 'Ana', email: 'not-an-email' });
      const answer = await t.send(e);
      expect(answer.status).toBe(200);
      expectFullEnvelope(answer.body);
      expect(answer.body).toMatchObject({ name: 'crm:contact:updated:badRequest', version: 1, id: e.id, flowId: e.flowId });
      expect(answer.body.payload.code).toBe('INVALID_PAYLOAD');
      const fields = answer.body.payload.parameters.fields as Array<{ name: string; message: string; errorType: string }>;
      expect(fields.map((f) => f.name)).toEqual(['documentNumber', 'email']);
      for (const f of fields) {
        expect(typeof f.message).toBe('string');
        expect(f.message.length).toBeGreaterThan(0);
      }
    });

    it('names a missing field and a nested array element by its dotted path', async () => {
      const missing = await t.send(envelope('crm:contact:updated', { documentType: 'CC', name: 'Ana', email: 'ana@example.com' }));
      expect(missing.body.name).toBe('crm:contact:updated:badRequest');
      expect(missing.body.payload.parameters.fields.map((f: { name: string }) => f.name)).toEqual(['documentNumber']);

      const nested = await t.send(envelope('test:nested', { items: [{ amount: 1 }, { amount: 'x' }] }));
      expect(nested.body).toMatchObject({ name: 'test:nested:badRequest', payload: { code: 'INVALID_PAYLOAD' } });
      expect(nested.body.payload.parameters.fields).toEqual([{ name: 'items.1.amount', message: expect.any(String), errorType: 'invalid_type' }]);
    });

    it('hands the handler the validated payload (unknown keys stripped) and the raw one', async () => {
      const answer = await t.send(envelope('test:nested', { items: [{ amount: 3, extra: true }], other: 'x' }));
      expect(answer.body).toMatchObject({
        name: 'test:nested:response',
        payload: { parsed: { items: [{ amount: 3 }] }, raw: { items: [{ amount: 3, extra: true }], other: 'x' } },
      });
    });
  });

  describe('credentials', () => {
    it('answers `<name>:unauthorized` when no key is given', async () => {
      const e = envelope('crm:contact:updated', contact('2001', 'Ana'));
      const answer = await t.send(e, {});
      expect(answer.status).toBe(200);
      expectFullEnvelope(answer.body);
      expect(answer.body).toMatchObject({ name: 'crm:contact:updated:unauthorized', id: e.id, flowId: e.flowId, payload: { code: 'UNAUTHORIZED' } });
    });

    it('answers `<name>:unauthorized` for a wrong Bearer key', async () => {
      const e = envelope('crm:contact:updated', contact('2002', 'Ana'));
      const answer = await t.send(e, { authorization: 'Bearer ck_wrong_key_0000000000000000' });
      expect(answer.body).toMatchObject({ name: 'crm:contact:updated:unauthorized', id: e.id, payload: { code: 'UNAUTHORIZED' } });
      const inEnvelope = await t.send(envelope('crm:contact:updated', contact('2003', 'Ana'), { auth: { token: 'nope' } }), {});
      expect(inEnvelope.body.name).toBe('crm:contact:updated:unauthorized');
    });

    it('accepts the key as `auth.token` inside the envelope when no header is sent', async () => {
      const e = envelope('crm:contact:updated', contact('2004', 'Ana'), { auth: { token: API_KEY } });
      const answer = await t.send(e, {});
      expectFullEnvelope(answer.body);
      expect(answer.body).toMatchObject({ name: 'crm:contact:updated:response', id: e.id, payload: { status: 'accepted', eventId: e.id } });
      // The credentials are never echoed back.
      expect(answer.body.auth).toEqual({});
    });

    it('does not tell an unauthenticated caller which events exist', async () => {
      const answer = await t.send(envelope('no:such:event', {}), {});
      expect(answer.body).toMatchObject({ name: 'no:such:event:unauthorized', payload: { code: 'UNAUTHORIZED' } });
    });

    it('answers a handler marked public without credentials', async () => {
      const e = envelope('test:ping', { say: 'hi' });
      const answer = await t.send(e, {});
      expectFullEnvelope(answer.body);
      expect(answer.body).toMatchObject({ name: 'test:ping:response', id: e.id, flowId: e.flowId, payload: { pong: 'hi' } });
      // The payload schema still applies to public handlers.
      const bad = await t.send(envelope('test:ping', { say: 3 }), {});
      expect(bad.body).toMatchObject({ name: 'test:ping:badRequest', payload: { code: 'INVALID_PAYLOAD', parameters: { fields: [{ name: 'say' }] } } });
    });
  });

  describe('badProtocol', () => {
    const expectBadProtocol = (body: Record<string, any>, propertyName: string) => {
      expectFullEnvelope(body);
      expect(body.name).toBe('badProtocol');
      expect(body.version).toBe(1);
      expect(body.payload.code).toBe('INVALID_COMMUNICATION_PROTOCOL');
      expect(body.payload.parameters.propertyName).toBe(propertyName);
    };

    it('answers bare badProtocol with HTTP 200 for a body that is not JSON', async () => {
      const answer = await post(t.url, '/events', '{"name": "crm:contact:updated", ', { ...json, ...bearer });
      expect(answer.status).toBe(200);
      expectBadProtocol(answer.body, '(body)');
    });

    it('answers bare badProtocol for an empty body and for a body without a content type', async () => {
      const empty = await post(t.url, '/events', '', { ...json, ...bearer });
      expect(empty.status).toBe(200);
      expectBadProtocol(empty.body, '(body)');
      const none = await post(t.url, '/events', undefined, bearer);
      expect(none.status).toBe(200);
      expectBadProtocol(none.body, '(body)');
    });

    it('answers bare badProtocol naming the envelope for a JSON array, a string and null', async () => {
      for (const body of ['[]', JSON.stringify([envelope('crm:contact:updated', contact('1', 'A'))]), '"hello"', 'null', '42']) {
        const answer = await post(t.url, '/events', body, { ...json, ...bearer });
        expect(answer.status, body).toBe(200);
        expectBadProtocol(answer.body, '(envelope)');
      }
    });

    // Fastify refuses a body over the limit before any handler runs; the answer must still be an envelope.
    it('answers a body over the size limit with HTTP 200 and badProtocol, not HTTP 413', async () => {
      const big = envelope('crm:contact:updated', { ...contact('3000', 'Ana'), pad: 'x'.repeat(1024 * 1024 + 1) });
      const response = await request(`${t.url}/events`, { method: 'POST', headers: { ...json, ...bearer }, body: JSON.stringify(big) });
      const body = (await response.body.json()) as Record<string, any>;
      expect(response.statusCode).toBe(200);
      expectBadProtocol(body, '(body)');
    });

    it('names `name` when it is missing, keeping the id and flowId it could read', async () => {
      const { name: _name, ...e } = envelope('crm:contact:updated', contact('3001', 'Ana'));
      const answer = await t.send(e);
      expectBadProtocol(answer.body, 'name');
      expect(answer.body.id).toBe(e.id);
      expect(answer.body.flowId).toBe(e.flowId);
    });

    it('names `version` when it is not an integer', async () => {
      for (const version of ['1', 1.5, null]) {
        const answer = await t.send(envelope('crm:contact:updated', contact('3002', 'Ana'), { version }));
        expect(answer.status).toBe(200);
        expectBadProtocol(answer.body, 'version');
      }
    });

    it('names `id` when it is missing, and answers with a fresh id', async () => {
      const { id: _id, ...e } = envelope('crm:contact:updated', contact('3003', 'Ana'));
      const answer = await t.send(e);
      expectBadProtocol(answer.body, 'id');
      expect(answer.body.flowId).toBe(e.flowId);
      expect(answer.body.id).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('names `flowId` when it is missing and `metadata` when it is not an object', async () => {
      const { flowId: _f, ...e } = envelope('crm:contact:updated', contact('3004', 'Ana'));
      expectBadProtocol((await t.send(e)).body, 'flowId');
      expectBadProtocol((await t.send(envelope('crm:contact:updated', contact('3005', 'Ana'), { metadata: 'x' }))).body, 'metadata');
    });
  });

  describe('eventNotFound', () => {
    it('answers bare eventNotFound for an unknown name, with the event and version', async () => {
      const e = envelope('no:such:event', {}, { version: 3 });
      const answer = await t.send(e);
      expect(answer.status).toBe(200);
      expectFullEnvelope(answer.body);
      expect(answer.body).toMatchObject({
        name: 'eventNotFound',
        version: 1,
        id: e.id,
        flowId: e.flowId,
        payload: { code: 'NO_EVENT_HANDLER_FOUND', parameters: { event: 'no:such:event', version: 3 } },
      });
    });

    it('answers bare eventNotFound for a known name at an unknown version', async () => {
      const answer = await t.send(envelope('crm:contact:updated', contact('4001', 'Ana'), { version: 2 }));
      expectFullEnvelope(answer.body);
      expect(answer.body).toMatchObject({
        name: 'eventNotFound',
        payload: { code: 'NO_EVENT_HANDLER_FOUND', parameters: { event: 'crm:contact:updated', version: 2 } },
      });
    });
  });

  describe('user handlers', () => {
    it('answers `<name>:error` with UNHANDLED_ERROR and no detail when a handler throws a plain Error', async () => {
      const e = envelope('test:boom', {});
      const answer = await post(t.url, '/events', JSON.stringify(e), { ...json, ...bearer });
      expect(answer.status).toBe(200);
      expectFullEnvelope(answer.body);
      expect(answer.body).toMatchObject({ name: 'test:boom:error', version: 1, id: e.id, flowId: e.flowId });
      expect(answer.body.payload).toEqual({ code: 'UNHANDLED_ERROR', parameters: {} });
      expect(answer.text).not.toContain('kaboom');
    });

    it('answers `<name>:<type>` with the code and parameters of a thrown EventError', async () => {
      const e = envelope('test:denied', {});
      const answer = await t.send(e);
      expectFullEnvelope(answer.body);
      expect(answer.body).toMatchObject({ name: 'test:denied:forbidden', id: e.id, flowId: e.flowId });
      expect(answer.body.payload).toEqual({ code: 'NOPE', parameters: { a: 1 } });
    });

    it('answers `<name>:redirect` with { url, queryParameters } when a handler returns redirect()', async () => {
      const e = envelope('test:go', {});
      const answer = await t.send(e);
      expectFullEnvelope(answer.body);
      expect(answer.body).toMatchObject({ name: 'test:go:redirect', id: e.id, flowId: e.flowId });
      expect(answer.body.payload).toEqual({ url: 'https://example.com/continue', queryParameters: { step: 2, token: 'abc' } });
    });
  });

  describe('bulk', () => {
    it('answers one envelope per item, in order: accepted, duplicate, badRequest, badProtocol, eventNotFound', async () => {
      const earlier = envelope('crm:contact:updated', contact('5001', 'Ana'));
      expect((await t.send(earlier)).body.payload).toEqual({ status: 'accepted', eventId: earlier.id });

      const fresh = envelope('crm:contact:updated', contact('5002', 'Bo'));
      const invalid = envelope('billing:subscription:changed', { documentType: 'CC', documentNumber: '5003', plan: 'gold', status: 'active' });
      const { name: _n, ...nameless } = envelope('crm:contact:updated', contact('5004', 'Cy'));
      const unknown = envelope('no:such:event', {});
      const sameTwice = envelope('preferences:updated', { documentType: 'CC', documentNumber: '5005', language: 'es', marketingOptIn: true });
      const items = [fresh, earlier, invalid, nameless, unknown, sameTwice, sameTwice];

      const answer = await post(t.url, '/events/bulk', JSON.stringify(items), { ...json, ...bearer });
      expect(answer.status).toBe(200);
      expect(Array.isArray(answer.body)).toBe(true);
      expect(answer.body).toHaveLength(items.length);
      for (const item of answer.body) expectFullEnvelope(item);
      expect(answer.body.map((a: { name: string }) => a.name)).toEqual([
        'crm:contact:updated:response',
        'crm:contact:updated:response',
        'billing:subscription:changed:badRequest',
        'badProtocol',
        'eventNotFound',
        'preferences:updated:response',
        'preferences:updated:response',
      ]);
      expect(answer.body.map((a: { id: string }) => a.id)).toEqual(items.map((i) => i.id));
      expect(answer.body[0].payload).toEqual({ status: 'accepted', eventId: fresh.id });
      expect(answer.body[1].payload).toEqual({ status: 'duplicate', eventId: earlier.id });
      expect(answer.body[2].payload.parameters.fields.map((f: { name: string }) => f.name)).toEqual(['plan']);
      expect(answer.body[3].payload).toMatchObject({ code: 'INVALID_COMMUNICATION_PROTOCOL', parameters: { propertyName: 'name' } });
      expect(answer.body[4].payload).toMatchObject({ code: 'NO_EVENT_HANDLER_FOUND', parameters: { event: 'no:such:event', version: 1 } });
      expect(answer.body[5].payload).toEqual({ status: 'accepted', eventId: sameTwice.id });
      expect(answer.body[6].payload).toEqual({ status: 'duplicate', eventId: sameTwice.id });
    });

    it('takes the events into the inbox in the request order, across event types of one key', async () => {
      const subscription = (plan: string) => envelope('billing:subscription:changed', { documentType: 'CC', documentNumber: '5050', plan, status: 'active' });
      const items = [envelope('crm:contact:updated', contact('5050', 'Ana')), subscription('pro'), envelope('crm:contact:updated', contact('5050', 'Bo')), subscription('free')];
      const answer = await post(t.url, '/events/bulk', JSON.stringify(items), { ...json, ...bearer });
      expect(answer.body.map((a: { payload: { status: string } }) => a.payload.status)).toEqual(['accepted', 'accepted', 'accepted', 'accepted']);
      const db = new Database(t.dbPath, { readonly: true });
      const rows = db.prepare(`SELECT event_id FROM inbox WHERE key = 'CC-5050' ORDER BY seq`).all() as Array<{ event_id: string }>;
      db.close();
      expect(rows.map((r) => r.event_id)).toEqual(items.map((i) => i.id));
    });

    it('checks credentials per item: the header, or auth.token inside each envelope', async () => {
      const withToken = envelope('crm:contact:updated', contact('5101', 'Ana'), { auth: { token: API_KEY } });
      const without = envelope('crm:contact:updated', contact('5102', 'Bo'));
      const answer = await post(t.url, '/events/bulk', JSON.stringify([withToken, without]), json);
      expect(answer.body.map((a: { name: string }) => a.name)).toEqual(['crm:contact:updated:response', 'crm:contact:updated:unauthorized']);
    });

    it('answers an empty array with an empty array', async () => {
      const answer = await post(t.url, '/events/bulk', '[]', { ...json, ...bearer });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual([]);
    });

    it('answers [badProtocol] for a body that is not an array, or not JSON', async () => {
      for (const body of [JSON.stringify(envelope('crm:contact:updated', contact('5201', 'Ana'))), '{"oops"', 'null']) {
        const answer = await post(t.url, '/events/bulk', body, { ...json, ...bearer });
        expect(answer.status, body).toBe(200);
        expect(Array.isArray(answer.body), body).toBe(true);
        expect(answer.body).toHaveLength(1);
        expectFullEnvelope(answer.body[0]);
        expect(answer.body[0]).toMatchObject({
          name: 'badProtocol',
          version: 1,
          payload: { code: 'INVALID_COMMUNICATION_PROTOCOL', parameters: { propertyName: '(body)' } },
        });
      }
    });
  });
});

describe('handler registry', () => {
  it('throws when the same (name, version) is registered twice, and keeps the first', () => {
    const first = { name: 'test:dup', version: 1, payload: z.unknown(), handle: () => respond('first') };
    const registry = new HandlerRegistry().register(first);
    expect(() => registry.register({ name: 'test:dup', version: 1, payload: z.unknown(), handle: () => respond('second') })).toThrow(
      /test:dup v1 is already registered/,
    );
    expect(registry.size).toBe(1);
    expect(registry.find('test:dup', 1)).toBe(first);
    // Another version of the same name is a different key.
    registry.register({ name: 'test:dup', version: 2, payload: z.unknown(), handle: () => respond('v2') });
    expect(registry.size).toBe(2);
    expect(registry.find('test:dup', 3)).toBeUndefined();
  });

  it('refuses a user handler that collides with one of the flow event types', async () => {
    const registry = new HandlerRegistry().register({ name: 'crm:contact:updated', version: 1, payload: z.unknown(), handle: () => respond({}) });
    const dir = tempDir();
    const store = new SqliteStore({ path: join(dir.path, 'confluo.db') });
    await store.init();
    try {
      await expect(
        createHub({ flow: customerFlow, store, registry, apiKeys: [API_KEY], adminTokens: [], logger: pino({ level: 'silent' }), process: false }),
      ).rejects.toThrow(/crm:contact:updated v1 is already registered/);
    } finally {
      await store.close();
      dir.remove();
    }
  });
});
