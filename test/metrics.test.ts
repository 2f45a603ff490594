// GET /metrics after a known workload through a real hub: events accepted,
// duplicate and rejected, a parked key with an event queued behind it,
// deliveries that succeed, retry then succeed, die, wait, or are ignored
// (real local receivers), a source run, a monitor. Every metric is read from
// the HTTP answer and checked exactly; labels never carry a key, an id or a
// URL; the token rules; and on PostgreSQL, two processes report the same
// shared gauges while their counters are their own.
import { Writable } from 'node:stream';
import pino from 'pino';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineIntegration, skip } from '../src/delivery/integration.js';
import { restSink } from '../src/delivery/sinks/rest-sink.js';
import { resolveSettings } from '../src/hub/config.js';
import { hubOptionsFrom } from '../src/hub/create-hub.js';
import { defineMonitor } from '../src/health/monitor.js';
import { defineSource } from '../src/sources/source.js';
import { customDriver, type SourceDriver } from '../src/sources/source-driver.js';
import { PostgresStore } from '../src/store/postgres/index.js';
import { MONITOR_STATES } from '../src/store/health-types.js';
import type { Json } from '../src/store/types.js';
import { account, failing, ledgerFlow, ownerSet } from './support/flows.js';
import { ADMIN_TOKEN, API_KEY, apiCall, envelope, eventually, startTestHub, type TestHub, type TestHubOptions } from './support/index.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { startReceiver, type Receiver } from './support/receiver.js';

/** `name{a="x",b="y"}` → value, labels sorted by name: one entry per sample of the text format. */
type Samples = Map<string, number>;

function parse(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels = [...(match[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => `${m[1]}="${m[2]}"`).sort();
    samples.set(labels.length > 0 ? `${match[1]}{${labels.join(',')}}` : (match[1] as string), Number(match[3]));
  }
  return samples;
}

/** The samples of one metric (its `_bucket`, `_sum` and `_count` too for a histogram), as an object for toEqual. */
function family(samples: Samples, name: string, suffix = ''): Record<string, number> {
  const picked: Record<string, number> = {};
  for (const [key, value] of samples) if (key === `${name}${suffix}` || key.startsWith(`${name}${suffix}{`)) picked[key] = value;
  return picked;
}

const receivers: Receiver[] = [];
const hubs: TestHub[] = [];
const databases: TestDatabase[] = [];
afterEach(async () => {
  failing.clear();
  for (const hub of hubs.splice(0)) await hub.close();
  for (const receiver of receivers.splice(0)) await receiver.close();
  for (const db of databases.splice(0)) await db.drop();
});

async function receiver(fallback: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const started = await startReceiver(fallback);
  receivers.push(started);
  return started;
}

async function hub(options: TestHubOptions): Promise<TestHub> {
  const started = await startTestHub({ flow: ledgerFlow, dispatcher: { pollMs: 10 }, ...options });
  hubs.push(started);
  return started;
}

async function scrape(url: string, token = ADMIN_TOKEN): Promise<{ status: number; type: string | undefined; text: string }> {
  const response = await request(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.statusCode, type: response.headers['content-type'] as string | undefined, text: await response.body.text() };
}

/** Integrations on the ledger part, one per fate a delivery can have. */
function integrations(ok: string, failing500: string, flaky: string) {
  const on = { entity: account, parts: ['ledger'] } as const;
  const map = ({ key }: { key: string }) => ({ body: { key } });
  return [
    defineIntegration({ name: 'books', on, map, sink: restSink({ url: `${ok}/books/{key}` }), retry: { delaysMs: [0] } }),
    defineIntegration({ name: 'flaky', on, map, sink: restSink({ url: `${flaky}/flaky/{key}` }), retry: { delaysMs: [0, 20, 20] } }),
    defineIntegration({ name: 'doomed', on, map, sink: restSink({ url: `${failing500}/doomed/{key}` }), retry: { delaysMs: [0, 10] } }),
    // Its retry comes due in an hour: the delivery stays pending.
    defineIntegration({ name: 'later', on, map, sink: restSink({ url: `${failing500}/later/{key}` }), retry: { delaysMs: [0, 3_600_000] } }),
    defineIntegration({ name: 'skipper', on, map: () => skip('not for us'), sink: restSink({ url: `${ok}/never` }) }),
  ];
}

/** A source of owners: one page of three good items and one its schema refuses. */
function ownersSource() {
  const driver = customDriver(async (checkpoint: { done: boolean } | null) => ({
    items: checkpoint?.done ? [] : [{ id: 'own-1', owner: 'Ana' }, { id: 'own-2', owner: 'Bo' }, { id: 'own-3', owner: 'Cy' }, { id: 'own-4' }],
    checkpoint: { done: true },
  }));
  return defineSource({
    name: 'owners',
    driver: driver as SourceDriver<unknown, Json>,
    schedule: { every: '1h' },
    item: z.object({ id: z.string(), owner: z.string() }),
    emits: ownerSet,
    id: (item) => item.id,
    map: (item) => ({ id: item.id, owner: item.owner }),
  });
}

const post = (id: string, label: string, extra: Record<string, unknown> = {}) => envelope('ledger:entry:posted', { id, amount: 10, label, ...extra });

describe('GET /metrics', () => {
  it('counts a known workload exactly: events, processing, deliveries, attempt durations, sources, monitors, backlog and HTTP requests', { timeout: 30_000 }, async () => {
    const ok = await receiver({ status: 200 });
    const down = await receiver({ status: 500 });
    const flaky = await receiver({ status: 200 });
    flaky.script.push({ status: 500 });
    const t = await hub({
      integrations: integrations(ok.url, down.url, flaky.url),
      sources: [ownersSource()],
      pull: false,
      monitors: [defineMonitor({ name: 'nightly-export', kind: 'push', intervalMs: 60_000 })],
    });

    const a1 = post('acct-ok-7f3k', 'a1');
    expect((await t.send(a1)).body.payload.status).toBe('accepted');
    expect((await t.send(a1)).body.payload.status).toBe('duplicate');
    // A key parked by its failing rule, and an event queued behind it.
    const p1 = post('acct-parked-9q2z', 'p1', { fail: true });
    const p2 = post('acct-parked-9q2z', 'p2');
    expect((await t.send(p1)).body.payload.status).toBe('accepted');
    expect((await t.send(p2)).body.payload.status).toBe('accepted');
    // Refused: a payload its schema rejects (a known event), an event the flow does not define, a body that is not JSON.
    expect((await t.send(post('acct-bad-4d1m', 'x', { amount: 'lots' }))).body.name).toBe('ledger:entry:posted:badRequest');
    expect((await t.send(envelope('ledger:nothing:happened', { id: 'acct-unknown-8h2w' }))).body.name).toBe('eventNotFound');
    expect((await t.send('{not json', { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' })).body.name).toBe('badProtocol');
    // A source run by hand: three owners emitted, one item rejected.
    expect((await t.post('/api/v1/sources/owners/run')).body).toMatchObject({ status: 'succeeded', accepted: 3, rejected: 1 });
    expect((await apiCall(t.url, 'GET', '/no-such-route-5k8p', ADMIN_TOKEN)).status).toBe(404);

    const settled = async () => {
      const items = (await t.get('/api/v1/deliveries?limit=100')).body.items as Array<{ integration: string; status: string; attempts: number }>;
      const by = Object.fromEntries(items.map((d) => [d.integration, `${d.status}/${d.attempts}`]));
      return JSON.stringify(by) === JSON.stringify({ ...by, books: 'succeeded/1', flaky: 'succeeded/2', doomed: 'dead/2', later: 'pending/1', skipper: 'ignored/0' }) && Object.keys(by).length === 5;
    };
    await eventually(settled, 10_000, 'every delivery to reach its fate');
    await eventually(async () => (await t.get('/api/v1/parked')).body.items.length === 1 && (await t.get('/api/v1/entities/account/own-3')).status === 200, 10_000, 'processing');
    const queuedAt = Date.parse((await t.get(`/api/v1/events/${p2.id}`)).body.acceptedAt);

    // The attempts are counted right after they settle: wait for the last one to be counted, then read it all.
    await eventually(async () => parse((await scrape(t.url)).text).get('confluo_deliveries_total{integration="doomed",outcome="dead"}') === 1, 5000, 'the dead letter counted');
    const before = Date.now();
    const answer = await scrape(t.url);
    const after = Date.now();
    expect(answer.status).toBe(200);
    expect(answer.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parse(answer.text);

    expect(family(samples, 'confluo_events_total')).toEqual({
      'confluo_events_total{event="ledger:entry:posted",outcome="accepted"}': 3,
      'confluo_events_total{event="ledger:entry:posted",outcome="duplicate"}': 1,
      'confluo_events_total{event="ledger:entry:posted",outcome="rejected"}': 1,
      'confluo_events_total{event="unknown",outcome="rejected"}': 2,
    });
    expect(family(samples, 'confluo_events_processed_total')).toEqual({
      'confluo_events_processed_total{event="ledger:entry:posted",outcome="processed"}': 1,
      'confluo_events_processed_total{event="ledger:entry:posted",outcome="parked"}': 1,
      'confluo_events_processed_total{event="ledger:owner:set",outcome="processed"}': 3,
    });
    expect(family(samples, 'confluo_deliveries_total')).toEqual({
      'confluo_deliveries_total{integration="books",outcome="succeeded"}': 1,
      'confluo_deliveries_total{integration="flaky",outcome="retrying"}': 1,
      'confluo_deliveries_total{integration="flaky",outcome="succeeded"}': 1,
      'confluo_deliveries_total{integration="doomed",outcome="retrying"}': 1,
      'confluo_deliveries_total{integration="doomed",outcome="dead"}': 1,
      'confluo_deliveries_total{integration="later",outcome="retrying"}': 1,
      'confluo_deliveries_total{integration="skipper",outcome="ignored"}': 1,
    });
    expect(family(samples, 'confluo_delivery_attempt_duration_seconds', '_count')).toEqual({
      'confluo_delivery_attempt_duration_seconds_count{integration="books"}': 1,
      'confluo_delivery_attempt_duration_seconds_count{integration="doomed"}': 2,
      'confluo_delivery_attempt_duration_seconds_count{integration="flaky"}': 2,
      'confluo_delivery_attempt_duration_seconds_count{integration="later"}': 1,
    });
    // Every attempt took under 5 s and at least 0 s: the buckets are cumulative up to the count.
    for (const integration of ['books', 'doomed', 'flaky', 'later']) {
      const count = samples.get(`confluo_delivery_attempt_duration_seconds_count{integration="${integration}"}`);
      expect(samples.get(`confluo_delivery_attempt_duration_seconds_bucket{integration="${integration}",le="5"}`)).toBe(count);
      expect(samples.get(`confluo_delivery_attempt_duration_seconds_sum{integration="${integration}"}`)).toBeGreaterThanOrEqual(0);
    }
    expect(family(samples, 'confluo_deliveries_pending')).toEqual({
      'confluo_deliveries_pending{integration="books"}': 0,
      'confluo_deliveries_pending{integration="doomed"}': 0,
      'confluo_deliveries_pending{integration="flaky"}': 0,
      'confluo_deliveries_pending{integration="later"}': 1,
      'confluo_deliveries_pending{integration="skipper"}': 0,
    });
    expect(family(samples, 'confluo_dead_letters')).toEqual({
      'confluo_dead_letters{integration="books"}': 0,
      'confluo_dead_letters{integration="doomed"}': 1,
      'confluo_dead_letters{integration="flaky"}': 0,
      'confluo_dead_letters{integration="later"}': 0,
      'confluo_dead_letters{integration="skipper"}': 0,
    });
    expect(samples.get('confluo_inbox_queued')).toBe(1);
    expect(samples.get('confluo_parked_keys')).toBe(1);
    const lag = samples.get('confluo_processing_lag_seconds')!;
    expect(lag).toBeGreaterThanOrEqual((before - queuedAt) / 1000);
    expect(lag).toBeLessThanOrEqual((after - queuedAt) / 1000);
    expect(family(samples, 'confluo_source_runs_total')).toEqual({ 'confluo_source_runs_total{outcome="succeeded",source="owners"}': 1 });
    expect(family(samples, 'confluo_source_items_total')).toEqual({
      'confluo_source_items_total{outcome="emitted",source="owners"}': 3,
      'confluo_source_items_total{outcome="rejected",source="owners"}': 1,
    });
    // The push monitor has not beaten yet: `new`, and 0 for every other state; the process's own monitor is left out.
    expect(family(samples, 'confluo_monitor_state')).toEqual(
      Object.fromEntries(MONITOR_STATES.map((state) => [`confluo_monitor_state{monitor="nightly-export",state="${state}"}`, state === 'new' ? 1 : 0])),
    );
    // Requests by route pattern: seven POST /events, the source run, the event read, the unmatched URL, and the scrapes before this one.
    const requests = family(samples, 'http_server_request_duration_seconds', '_count');
    expect(requests).toMatchObject({
      'http_server_request_duration_seconds_count{method="POST",route="/events",status="200"}': 7,
      'http_server_request_duration_seconds_count{method="POST",route="/api/v1/sources/:name/run",status="200"}': 1,
      'http_server_request_duration_seconds_count{method="GET",route="/api/v1/events/:id",status="200"}': 1,
      'http_server_request_duration_seconds_count{method="GET",route="unmatched",status="404"}': 1,
    });
    expect(Object.keys(requests).filter((key) => !/route="(\/events|\/api\/v1\/sources\/:name\/run|\/api\/v1\/events\/:id|unmatched|\/metrics|\/api\/v1\/deliveries|\/api\/v1\/parked|\/api\/v1\/entities\/:entity\/:key)"/.test(key))).toEqual([]);

    // Bounded labels: no key, event id, flow id, run id or URL anywhere.
    for (const unbounded of ['acct-', 'own-', a1.id, a1.flowId, p2.id, 'no-such-route', '127.0.0.1', ok.url, 'http://']) expect(answer.text).not.toContain(unbounded);
  });

  it('counts a mapping that throws as a failed delivery, written so by processing', async () => {
    const ok = await receiver({ status: 200 });
    const throwing = defineIntegration({
      name: 'broken',
      on: { entity: account, parts: ['ledger'] },
      map: () => {
        throw new Error('no mapping for this');
      },
      sink: restSink({ url: `${ok.url}/x` }),
    });
    const t = await hub({ integrations: [throwing] });
    await t.send(post('acct-m-1', 'm1'));
    await eventually(async () => parse((await scrape(t.url)).text).get('confluo_deliveries_total{integration="broken",outcome="failed"}') === 1, 5000, 'the failed delivery counted');
    expect(ok.received).toEqual([]);
  });

  it('answers 401 without a token or with an unknown one, 403 to a key without the admin scope; the metrics token and admin keys get in', async () => {
    const metricsToken = 'cmet_test_token_0123456789abcdef';
    const t = await hub({ metricsToken });
    const reader = (await t.call('POST', '/api/v1/keys', { name: 'dashboard', scopes: ['read', 'operate'] })).body.key as string;
    const admin = (await t.call('POST', '/api/v1/keys', { name: 'ops', scopes: ['admin'] })).body.key as string;

    const bare = await request(`${t.url}/metrics`);
    expect(bare.statusCode).toBe(401);
    expect(await bare.body.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.stringContaining('Bearer') } });
    expect((await scrape(t.url, 'not-a-known-token-0123456789')).status).toBe(401);
    const forbidden = await scrape(t.url, reader);
    expect(forbidden.status).toBe(403);
    expect(JSON.parse(forbidden.text)).toEqual({ error: { code: 'FORBIDDEN', message: expect.stringContaining('"dashboard"') } });
    expect((await scrape(t.url, API_KEY)).status).toBe(403);
    for (const token of [metricsToken, admin, ADMIN_TOKEN]) {
      const allowed = await scrape(t.url, token);
      expect(allowed.status).toBe(200);
      expect(allowed.text).toContain('# TYPE confluo_events_total counter');
    }
  });

  it('without a metrics token, the admin keys alone get in; with metrics off, there is no /metrics', async () => {
    const t = await hub({});
    expect((await scrape(t.url, 'cmet_test_token_0123456789abcdef')).status).toBe(401);
    expect((await scrape(t.url)).status).toBe(200);
    const off = await hub({ metrics: false });
    expect((await scrape(off.url)).status).toBe(404);
  });

  it('reads CONFLUO_METRICS and CONFLUO_METRICS_TOKEN from the environment, on by default', () => {
    const options = (env: NodeJS.ProcessEnv) => {
      const { metrics, metricsToken } = hubOptionsFrom(resolveSettings({ flow: ledgerFlow }, env), { store: {} as never, apiKeys: [], adminTokens: [] });
      return { metrics, metricsToken };
    };
    expect(options({})).toEqual({ metrics: true, metricsToken: undefined });
    expect(options({ CONFLUO_METRICS: 'off', CONFLUO_METRICS_TOKEN: 'cmet_x' })).toEqual({ metrics: false, metricsToken: 'cmet_x' });
    expect(options({ CONFLUO_METRICS: 'on' }).metrics).toBe(true);
    expect(() => options({ CONFLUO_METRICS: 'maybe' })).toThrow(/CONFLUO_METRICS must be on or off, got "maybe"/);
  });

  it('keeps the counters of two hubs in one process apart', async () => {
    const first = await hub({});
    const second = await hub({});
    await first.send(post('acct-two-1', 't1'));
    expect(parse((await scrape(first.url)).text).get('confluo_events_total{event="ledger:entry:posted",outcome="accepted"}')).toBe(1);
    expect(parse((await scrape(second.url)).text).get('confluo_events_total{event="ledger:entry:posted",outcome="accepted"}')).toBeUndefined();
  });

  it('answers with the counters alone, and warns, when the store does not answer', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) }));
    const t = await hub({ logger });
    await t.send(post('acct-down-1', 'd1'));
    // The store's reads fail from here on, as when the database is unreachable.
    const backlog = t.hub.store.inbox.backlog;
    t.hub.store.inbox.backlog = () => Promise.reject(new Error('connection refused'));
    const answer = await scrape(t.url);
    t.hub.store.inbox.backlog = backlog;
    expect(answer.status).toBe(200);
    const samples = parse(answer.text);
    expect(samples.get('confluo_events_total{event="ledger:entry:posted",outcome="accepted"}')).toBe(1);
    expect([...samples.keys()].filter((key) => /^confluo_(inbox_queued|processing_lag|parked_keys|deliveries_pending|dead_letters|monitor_state)/.test(key))).toEqual([]);
    expect(lines.map((line) => JSON.parse(line) as { msg: string; err?: { message: string } }).filter((l) => l.msg.includes('metrics could not read the store'))).toMatchObject([{ err: { message: 'connection refused' } }]);
    // The store back, the gauges are back.
    expect(parse((await scrape(t.url)).text).has('confluo_inbox_queued')).toBe(true);
  });
});

describe('GET /metrics on PostgreSQL', () => {
  it('reports the same shared gauges from two processes on one database, and counters per process', { timeout: 30_000 }, async () => {
    const db = await createTestDatabase('metrics');
    databases.push(db);
    const open = async () => {
      const store = new PostgresStore({ url: db.url });
      await store.init();
      return store;
    };
    const down = await receiver({ status: 500 });
    const on = { entity: account, parts: ['ledger'] } as const;
    const later = defineIntegration({ name: 'later', on, map: ({ key }) => ({ body: { key } }), sink: restSink({ url: `${down.url}/later/{key}` }), retry: { delaysMs: [0, 3_600_000] } });
    const first = await hub({ store: await open(), integrations: [later] });
    const second = await hub({ store: await open(), integrations: [later] });

    await first.send(post('acct-pg-1', 'g1'));
    await first.send(post('acct-pg-2', 'g2', { fail: true }));
    await first.send(post('acct-pg-2', 'g3'));
    await eventually(async () => (await first.get('/api/v1/deliveries?limit=10')).body.items.some((d: { attempts: number }) => d.attempts === 1), 10_000, 'the attempt');
    await eventually(async () => (await first.get('/api/v1/parked')).body.items.length === 1, 10_000, 'the parked key');

    const [a, b] = [parse((await scrape(first.url)).text), parse((await scrape(second.url)).text)];
    for (const shared of ['confluo_inbox_queued', 'confluo_parked_keys', 'confluo_deliveries_pending{integration="later"}', 'confluo_dead_letters{integration="later"}']) {
      expect(b.get(shared), shared).toBe(a.get(shared));
    }
    expect([a.get('confluo_inbox_queued'), a.get('confluo_parked_keys'), a.get('confluo_deliveries_pending{integration="later"}')]).toEqual([1, 1, 1]);
    // Only the first process took the events in; either may have applied them, and the two together did each once.
    expect(a.get('confluo_events_total{event="ledger:entry:posted",outcome="accepted"}')).toBe(3);
    expect(b.get('confluo_events_total{event="ledger:entry:posted",outcome="accepted"}')).toBeUndefined();
    const processed = (s: Samples, outcome: string) => s.get(`confluo_events_processed_total{event="ledger:entry:posted",outcome="${outcome}"}`) ?? 0;
    expect([processed(a, 'processed') + processed(b, 'processed'), processed(a, 'parked') + processed(b, 'parked')]).toEqual([1, 1]);
  });
});
