// Guarantee 5 against a real receiver that misbehaves on purpose: signed,
// retried on the schedule, Retry-After honoured, 410 disables, other 4xx fail,
// dead letters replay, pause loses nothing, ordered keys wait, secrets masked.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { customer } from '../examples/customer-sync/flow.js';
import type { Alert } from '../src/delivery/dispatcher.js';
import { defineIntegration, skip, type IntegrationOptions } from '../src/delivery/integration.js';
import { functionSink } from '../src/delivery/sinks/function-sink.js';
import { restSink } from '../src/delivery/sinks/rest-sink.js';
import { startReceiver, type Receiver } from './support/receiver.js';
import { contact, envelope, eventually, startTestHub, type TestHub, type TestHubOptions } from './support/index.js';

const secret = `whsec_${randomBytes(24).toString('base64')}`;
const fast = { delaysMs: [0, 30, 30, 30, 30, 30] };

describe('delivery', () => {
  let t: TestHub | undefined;
  let receiver: Receiver | undefined;
  afterEach(async () => {
    await t?.close();
    await receiver?.close();
    t = undefined;
    receiver = undefined;
  });

  const deskOn = { entity: customer, parts: ['contact', 'billing'] } as const;
  const desk = (url: string, extra: Partial<IntegrationOptions<typeof deskOn>> = {}) =>
    defineIntegration({
      name: 'desk',
      on: deskOn,
      map: ({ key, record, version }) => ({ body: { key, name: record.contact?.name ?? null, version } }),
      sink: restSink({ url: `${url}/customers/{key}`, method: 'PUT', secret }),
      retry: fast,
      ...extra,
    });

  async function hub(options: TestHubOptions) {
    t = await startTestHub({ dispatcher: { pollMs: 10 }, ...options });
    return t;
  }
  const send = (number: string, name: string) => t!.send(envelope('crm:contact:updated', contact(number, name), { metadata: { wait: true } }));
  const deliveries = async (query = '') => (await t!.get(`/api/v1/deliveries?limit=1000${query}`)).body.items as any[];
  const detail = async (id: string) => (await t!.get(`/api/v1/deliveries/${id}`)).body;
  /**
   * Shows nothing is on its way, where waiting a while would only suggest it: a claim made now
   * (with the pending deliveries due) starts nothing, and a stop lets every attempt already
   * started reach the receiver. The dispatcher then starts again.
   */
  async function nothingGoesOut() {
    expect(await t!.hub.dispatcher.tick()).toBe(0);
    await t!.hub.dispatcher.stop();
    t!.hub.dispatcher.start();
  }

  it('signs every attempt with a webhook-id that stays the same across retries, verified by the standardwebhooks library', async () => {
    receiver = await startReceiver();
    receiver.script.push({ status: 500 }, { status: 502 });
    await hub({ integrations: [desk(receiver.url)] });
    await send('1015', 'Ana');
    await eventually(() => receiver!.received.length === 3, 5000, 'three attempts');
    const [delivery] = await eventually(async () => {
      const items = await deliveries();
      return items[0]?.status === 'succeeded' && items;
    });
    const ids = new Set(receiver.received.map((r) => r.headers['webhook-id']));
    expect([...ids]).toEqual([delivery.deliveryId]);
    const wh = new Webhook(secret);
    for (const r of receiver.received) {
      expect(r.method).toBe('PUT');
      expect(r.path).toBe('/customers/CC-1015');
      expect(wh.verify(r.raw, r.headers as Record<string, string>)).toEqual({ key: 'CC-1015', name: 'Ana', version: 1 });
    }
    const log = (await detail(delivery.deliveryId)).attemptLog;
    expect(log.map((a: any) => [a.attempt, a.status, a.outcome])).toEqual([
      [1, 500, 'retry'],
      [2, 502, 'retry'],
      [3, 200, 'succeeded'],
    ]);
    expect(log[0]).toMatchObject({ method: 'PUT', url: `${receiver.url}/customers/CC-1015`, error: 'HTTP 500', response: 'error 500', nextAttemptAt: expect.any(String) });
    expect(log[2].nextAttemptAt).toBeNull();
  });

  it('honours Retry-After on 429', async () => {
    receiver = await startReceiver();
    receiver.script.push({ status: 429, headers: { 'retry-after': '1' } });
    await hub({ integrations: [desk(receiver.url)] });
    await send('1015', 'Ana');
    await eventually(() => receiver!.received.length === 2, 5000, 'the retry');
    expect(receiver.received[1]!.at - receiver.received[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('disables the integration on 410 with one alert; its deliveries wait and go out on resume', async () => {
    receiver = await startReceiver();
    receiver.script.push({ status: 410 });
    const alerts: Alert[] = [];
    await hub({ integrations: [desk(receiver.url)], onAlert: (a) => alerts.push(a) });
    await send('1', 'Ana');
    await send('2', 'Bo');
    await eventually(async () => (await t!.get('/api/v1/integrations')).body.items[0].state === 'disabled', 5000, 'disabled');
    await nothingGoesOut();
    expect(receiver.received).toHaveLength(1);
    expect(alerts).toEqual([{ kind: 'integration.disabled', integration: 'desk', reason: 'the receiver answered 410 Gone', at: expect.any(Date) }]);
    expect((await deliveries('&status=pending')).length).toBe(2);

    expect((await t!.post('/api/v1/integrations/desk/resume')).body).toEqual({ name: 'desk', state: 'active', previous: 'disabled' });
    await eventually(async () => (await deliveries('&status=succeeded')).length === 2, 5000, 'both delivered');
    expect(new Set(receiver.received.map((r) => r.path))).toEqual(new Set(['/customers/CC-1', '/customers/CC-2']));
  });

  it('fails at once on another 4xx and calls onFailure; onSuccess for the rest', async () => {
    receiver = await startReceiver();
    receiver.script.push({ status: 422 });
    const failures: string[] = [];
    const successes: number[] = [];
    await hub({ integrations: [desk(receiver.url, { onFailure: (d, e) => void failures.push(`${d.status}:${e}`), onSuccess: (d) => void successes.push(d.version ?? -1) })] });
    await send('1015', 'Ana');
    await eventually(() => failures.length === 1, 5000, 'onFailure');
    expect(failures).toEqual(['failed:HTTP 422']);
    await send('1015', 'AnaMaria');
    await eventually(() => successes.length === 1, 5000, 'onSuccess');
    expect(successes).toEqual([2]);
    expect(receiver.received).toHaveLength(2);
  });

  it('retries timeouts and connection resets', async () => {
    receiver = await startReceiver();
    receiver.script.push('reset', { status: 200, delayMs: 600 });
    await hub({ integrations: [desk(receiver.url, { timeoutMs: 200 })] });
    await send('1015', 'Ana');
    const [delivery] = await eventually(async () => {
      const items = await deliveries('&status=succeeded');
      return items.length === 1 && items;
    });
    const log = (await detail(delivery.deliveryId)).attemptLog;
    expect(log.map((a: any) => a.outcome)).toEqual(['retry', 'retry', 'succeeded']);
    expect(log[0].status).toBeNull();
    expect(log[1].error).toBe('Error: no answer within 200 ms');
  });

  it('dead-letters after the last attempt, keeps the last error, and a replay of the time range delivers it', async () => {
    receiver = await startReceiver({ status: 503 });
    const started = new Date().toISOString();
    await hub({ integrations: [desk(receiver.url, { retry: { delaysMs: [0, 20, 20] } })] });
    await send('1015', 'Ana');
    const [dead] = await eventually(async () => {
      const items = await deliveries('&status=dead');
      return items.length === 1 && items;
    });
    expect(dead).toMatchObject({ attempts: 3, lastStatus: 503, lastError: 'HTTP 503' });
    expect(receiver.received).toHaveLength(3);

    receiver.fallback = { status: 200 };
    const bad = await t!.post('/api/v1/integrations/desk/replay');
    expect(bad.status).toBe(400);
    const replay = await t!.call('POST', '/api/v1/integrations/desk/replay', { since: started });
    expect(replay.body).toMatchObject({ name: 'desk', replayed: 1 });
    await eventually(async () => (await deliveries('&status=succeeded')).length === 1, 5000, 'replayed delivery');
    const log = (await detail(dead.deliveryId)).attemptLog;
    expect(log.map((a: any) => [a.attempt, a.trigger, a.outcome])).toEqual([
      [1, 'scheduled', 'retry'],
      [2, 'scheduled', 'retry'],
      [3, 'scheduled', 'dead'],
      [4, 'manual', 'succeeded'],
    ]);
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(1);

    // One delivery can be sent again too; a pending one cannot.
    expect((await t!.post(`/api/v1/deliveries/${dead.deliveryId}/retry`)).body).toEqual({ deliveryId: dead.deliveryId, status: 'pending' });
    await eventually(() => receiver!.received.length === 5, 5000, 'manual retry');
    expect((await t!.post('/api/v1/deliveries/nope/retry')).status).toBe(404);
  });

  it('pauses an integration without losing anything, and resumes in full', async () => {
    receiver = await startReceiver();
    await hub({ integrations: [desk(receiver.url)] });
    expect((await t!.post('/api/v1/integrations/desk/pause')).body).toMatchObject({ state: 'paused' });
    for (let i = 0; i < 5; i++) await send(String(i), `N${i}`);
    await nothingGoesOut();
    expect(receiver.received).toHaveLength(0);
    const listed = (await t!.get('/api/v1/integrations')).body.items[0];
    expect(listed).toMatchObject({ name: 'desk', state: 'paused', counts: { pending: 5, succeeded: 0 } });
    const pending = (await deliveries('&status=pending'))[0];
    expect((await t!.post(`/api/v1/deliveries/${pending.deliveryId}/retry`)).status).toBe(409);

    await t!.post('/api/v1/integrations/desk/resume');
    await eventually(() => receiver!.received.length === 5, 5000, 'all five');
    expect(receiver.received.map((r) => r.path).sort()).toEqual(['0', '1', '2', '3', '4'].map((n) => `/customers/CC-${n}`));
  });

  it('with ordered delivery, a later change of a key waits while an earlier one retries', async () => {
    receiver = await startReceiver();
    receiver.script.push({ status: 500 }, { status: 500 });
    await hub({ integrations: [desk(receiver.url, { ordered: true })] });
    await send('1015', 'Ana');
    await send('1015', 'AnaMaria');
    await send('1015', 'AnaMariaLima');
    await eventually(() => receiver!.received.length === 5, 5000, 'all attempts');
    expect(receiver.received.map((r) => r.body.version)).toEqual([1, 1, 1, 2, 3]);
  });

  it('records a skip as ignored and a throwing mapping as failed, with the reasons', async () => {
    receiver = await startReceiver();
    const integration = desk(receiver.url, {
      map: ({ record, key, version }) => {
        if (record.contact?.name === 'SkipMe') return skip('not interesting');
        if (record.contact?.name === 'Boom') throw new Error('mapping bug');
        return { body: { key, version } };
      },
    });
    await hub({ integrations: [integration] });
    const skipped = await send('1', 'SkipMe');
    await send('2', 'Boom');
    await send('3', 'Fine');
    await eventually(async () => (await deliveries('&status=succeeded')).length === 1, 5000, 'the fine one');
    expect((await deliveries('&status=ignored')).map((d) => [d.key, d.lastError])).toEqual([['CC-1', 'not interesting']]);
    expect((await deliveries('&status=failed')).map((d) => [d.key, d.lastError])).toEqual([['CC-2', 'mapping threw: mapping bug']]);
    // The event trace lists the deliveries it caused.
    const trace = (await t!.get(`/api/v1/events/${skipped.body.id}`)).body;
    expect(trace.deliveries).toEqual([expect.objectContaining({ integration: 'desk', status: 'ignored', lastError: 'not interesting' })]);
    expect(receiver.received).toHaveLength(1);
  });

  it('never shows a bearer token or a secret the receiver echoes, in the API or the logs', async () => {
    receiver = await startReceiver();
    const token = 'tok_super_secret_value_123';
    receiver.script.push({ status: 500, body: `bad token ${token}` });
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }));
    const integration = defineIntegration({
      name: 'desk',
      on: { entity: customer },
      map: ({ key }) => ({ body: { key } }),
      sink: restSink({ url: `${receiver.url}/c/{key}`, auth: { type: 'bearer', token } }),
      retry: fast,
    });
    await hub({ integrations: [integration], logger });
    await send('1015', 'Ana');
    const [delivery] = await eventually(async () => {
      const items = await deliveries('&status=succeeded');
      return items.length === 1 && items;
    });
    expect(receiver.received[0]!.headers.authorization).toBe(`Bearer ${token}`);
    const shown = JSON.stringify(await detail(delivery.deliveryId)) + JSON.stringify(await deliveries()) + lines.join('\n');
    expect(shown).not.toContain(token);
    const log = (await detail(delivery.deliveryId)).attemptLog;
    expect(log[0].requestHeaders.authorization).toBe('Bearer ****');
    expect(log[0].response).toBe('bad token ****');
  });

  it('keeps to the integration concurrency and rate limit', async () => {
    receiver = await startReceiver({ status: 200, delayMs: 40 });
    await hub({ integrations: [desk(receiver.url, { concurrency: 1, rateLimit: { max: 2, perMs: 1000 } })] });
    for (let i = 0; i < 6; i++) await send(String(i), `N${i}`);
    await eventually(() => receiver!.received.length === 6, 10_000, 'six deliveries');
    expect(receiver.maxInFlight).toBe(1);
    // Two at once, then one token every 500 ms: the sixth cannot start before ~2 s.
    expect(receiver.received[5]!.at - receiver.received[0]!.at).toBeGreaterThanOrEqual(1800);
  });

  it('auto-disables after sustained failure, with one alert, and stops sending', async () => {
    receiver = await startReceiver({ status: 500 });
    const alerts: Alert[] = [];
    await hub({ integrations: [desk(receiver.url, { autoDisable: { afterMs: 0, minFailures: 3 }, retry: { delaysMs: [0, 10, 10, 10, 10, 10, 10, 10] } })], onAlert: (a) => alerts.push(a) });
    await send('1015', 'Ana');
    await eventually(async () => (await t!.get('/api/v1/integrations')).body.items[0].state === 'disabled', 5000, 'auto-disable');
    await eventually(async () => Date.parse((await deliveries())[0].nextAttemptAt) < Date.now(), 5000, 'the next attempt to come due');
    await nothingGoesOut();
    expect(receiver.received).toHaveLength(3);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.reason).toMatch(/3 attempts in a row/);
  });

  it('delivers processed events to event subscribers, changed or not', async () => {
    const seen: any[] = [];
    const audit = defineIntegration({
      name: 'prefs-audit',
      on: { events: ['preferences:updated'] },
      map: (input) => ({ body: { name: input.name, payload: input.payload, version: input.result.version, changed: input.result.changedParts } }),
      sink: functionSink(async (request) => void seen.push(request.body)),
    });
    await hub({ integrations: [audit] });
    const prefs = { documentType: 'CC', documentNumber: '7', language: 'pt-BR', marketingOptIn: true };
    await t!.send(envelope('preferences:updated', prefs, { metadata: { wait: true } }));
    await t!.send(envelope('preferences:updated', prefs, { metadata: { wait: true } }));
    await send('7', 'Not a preference');
    await eventually(() => seen.length === 2, 5000, 'two event deliveries');
    expect(seen).toEqual([
      { name: 'preferences:updated', payload: prefs, version: 1, changed: ['preferences'] },
      { name: 'preferences:updated', payload: prefs, version: 1, changed: [] },
    ]);
  });

  it('folds a digest window into one delivery, and sends nothing for a window without items', async () => {
    const sent: any[] = [];
    const digest = defineIntegration({
      name: 'digest',
      on: { entity: customer, parts: ['contact'] },
      map: ({ key }) => ({ body: { key } }),
      digest: { windowMs: 1000, fold: (items, window) => ({ body: { count: items.length, keys: items.map((i: any) => i.key), start: window.start.toISOString() } }) },
      sink: functionSink(async (request) => void sent.push(request.body)),
    });
    await hub({ integrations: [digest] });
    for (const n of ['1', '2', '3']) await send(n, `N${n}`);
    await eventually(() => sent.reduce((s, m) => s + m.count, 0) === 3, 5000, 'digest');
    // Once the window after the last one with items has ended, a close finds nothing to send:
    // a digest for that empty window, or a second one for a full window, would show below.
    const lastStart = Math.max(...sent.map((m) => Date.parse(m.start)));
    await eventually(() => Date.now() >= lastStart + 2 * 1000, 5000, 'an empty window to end');
    await t!.hub.dispatcher.closeDigests();
    await nothingGoesOut();
    expect(sent.reduce((s, m) => s + m.count, 0)).toBe(3);
    expect(sent.flatMap((m) => m.keys).sort()).toEqual(['CC-1', 'CC-2', 'CC-3']);
    expect(new Set(sent.map((m) => m.start)).size).toBe(sent.length);
    const digests = await deliveries('&integration=digest');
    expect(digests.every((d) => d.kind === 'digest' && d.key === '*' && d.status === 'succeeded')).toBe(true);
  });

  it('does not start a second copy of a delivery whose lease ran out while it is still being sent', async () => {
    receiver = await startReceiver({ status: 200, delayMs: 700 });
    await hub({ integrations: [desk(receiver.url)], dispatcher: { pollMs: 10, leaseMs: 150 } });
    await send('1015', 'Ana');
    await eventually(async () => (await deliveries('&status=succeeded')).length === 1, 5000, 'the slow delivery');
    await nothingGoesOut(); // a second copy, started when the lease ran out, would have been received by now
    expect(receiver.received).toHaveLength(1);
  });

  it('validates delivery queries and names unknown things', async () => {
    await hub({ integrations: [desk('http://127.0.0.1:9')] });
    expect((await t!.get('/api/v1/deliveries?status=lost')).status).toBe(400);
    expect((await t!.get('/api/v1/deliveries/nope')).status).toBe(404);
    expect((await t!.post('/api/v1/integrations/nope/pause')).status).toBe(404);
    const inverted = await t!.call('POST', '/api/v1/integrations/desk/replay', { since: '2026-01-02T00:00:00Z', until: '2026-01-01T00:00:00Z' });
    expect(inverted.status).toBe(400);
    expect(inverted.body.error.details.fields[0].message).toBe('since must not be after until');
  });
});
