// The example's billing-export source against a real local billing API:
// pages followed by cursor, the next run asking only for what is newer,
// bearer auth, bad items rejected, and a failing API visible with back-off.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, startTestHub, type TestHub } from '../../test/support/index.js';
import { sourcesFromEnv } from './sources.js';

interface Subscription {
  documentType: string;
  documentNumber: string;
  plan: string;
  status: string;
  updatedAt: string;
}

/** A billing system's export API: `GET /subscriptions?since=&cursor=`, three per page. */
async function billingApi(token: string) {
  const subscriptions: Subscription[] = [];
  const requests: Array<{ since: string | null; cursor: string | null; auth: string | undefined }> = [];
  let failing = false;
  const server: Server = createServer((req: IncomingMessage, res) => {
    const url = new URL(req.url ?? '/', 'http://billing');
    requests.push({ since: url.searchParams.get('since'), cursor: url.searchParams.get('cursor'), auth: req.headers.authorization });
    if (req.headers.authorization !== `Bearer ${token}`) return void res.writeHead(401).end('{"error":"unauthorized"}');
    if (failing) return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"maintenance"}');
    const since = url.searchParams.get('since');
    const newer = subscriptions.filter((s) => since === null || s.updatedAt > since).sort((a, b) => a.updatedAt.localeCompare(b.updatedAt));
    const from = Number(url.searchParams.get('cursor') ?? 0);
    const items = newer.slice(from, from + 3);
    const next = from + 3 < newer.length ? String(from + 3) : null;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items, next }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let clock = Date.parse('2026-11-01T00:00:00Z');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    change(documentNumber: string, plan: string, status: string) {
      clock += 60_000;
      subscriptions.push({ documentType: 'CC', documentNumber, plan, status, updatedAt: new Date(clock).toISOString() });
    },
    fail: (on: boolean) => (failing = on),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('customer-sync billing-export source', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('pulls subscription changes page by page into the customer records, then only what is newer', async () => {
    const token = 'billing-token-0123456789';
    const api = await billingApi(token);
    cleanups.push(api.close);
    for (let i = 1; i <= 7; i++) api.change(`10${i}`, 'pro', 'active');
    api.change('101', 'enterprise', 'past_due');
    api.change('999', 'platinum', 'active'); // not a plan the flow knows
    const t: TestHub = await startTestHub({ sources: sourcesFromEnv({ BILLING_API_URL: `${api.url}/`, BILLING_API_TOKEN: token }), pull: false });
    cleanups.push(t.close);

    const run = await t.post('/api/v1/sources/billing-export/run');
    expect(run.body).toMatchObject({ status: 'succeeded', pages: 3, items: 9, accepted: 8, rejected: 1 });
    expect(api.requests.map((r) => [r.since, r.cursor])).toEqual([[null, null], [null, '3'], [null, '6']]);
    expect(api.requests.every((r) => r.auth === `Bearer ${token}`)).toBe(true);
    await eventually(async () => (await t.get('/api/v1/entities/customer/CC-101')).body?.version === 2);
    expect((await t.get('/api/v1/entities/customer/CC-101')).body.parts.billing).toEqual({ plan: 'enterprise', status: 'past_due' });
    const rejected = await t.get('/api/v1/sources/billing-export/rejected');
    expect(rejected.body.items).toMatchObject([{ itemId: 'CC-999@2026-11-01T00:09:00.000Z', raw: { plan: 'platinum' } }]);
    expect(rejected.body.items[0].reason).toMatch(/plan/);

    api.change('102', 'free', 'canceled');
    const second = await t.post('/api/v1/sources/billing-export/run');
    expect(second.body).toMatchObject({ status: 'succeeded', items: 1, accepted: 1, duplicates: 0 });
    expect(api.requests.at(-1)).toMatchObject({ since: '2026-11-01T00:09:00.000Z', cursor: null });
    await eventually(async () => (await t.get('/api/v1/entities/customer/CC-102')).body?.parts?.billing?.status === 'canceled');
  });

  it('shows a failing billing API with its error and goes on after it recovers', async () => {
    const token = 'billing-token-abcdefghij';
    const api = await billingApi(token);
    cleanups.push(api.close);
    api.change('201', 'pro', 'active');
    const t: TestHub = await startTestHub({ sources: sourcesFromEnv({ BILLING_API_URL: api.url, BILLING_API_TOKEN: token }), pull: false });
    cleanups.push(t.close);
    api.fail(true);
    const failed = await t.post('/api/v1/sources/billing-export/run');
    expect(failed.body.status).toBe('failed');
    expect(failed.body.error).toMatch(/503/);
    expect(failed.body.error).not.toContain(token);
    expect((await t.get('/api/v1/sources')).body.sources[0]).toMatchObject({ state: 'failing', consecutiveFailures: 1 });
    api.fail(false);
    expect((await t.post('/api/v1/sources/billing-export/run')).body).toMatchObject({ status: 'succeeded', accepted: 1 });
  }, 30_000);

  it('is off, saying why, while BILLING_API_URL is unset', () => {
    expect(sourcesFromEnv({})[0]?.disabled).toBe('BILLING_API_URL is unset');
  });
});
