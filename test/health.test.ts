// Seeing the hub's health: /healthz (liveness) and /readyz (readiness) open
// and free of configuration, /api/v1/health for admins with every process and
// its loops and every monitor, push beats and pause/resume over the API, the
// outward dead-man's switch, and readiness following a PostgreSQL server that
// becomes unreachable and comes back.
import { createServer, connect, type Server, type Socket } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { defineMonitor, functionSink, defineIntegration } from '../src/index.js';
import { createHub } from '../src/hub/create-hub.js';
import { PostgresStore } from '../src/store/postgres/index.js';
import { flow as customerFlow } from '../examples/customer-sync/flow.js';
import { createTestDatabase, testDatabaseUrl } from './support/postgres.js';
import { startReceiver, type Receiver } from './support/receiver.js';
import { ADMIN_TOKEN, API_KEY, apiCall, eventually, startTestHub, type TestHub } from './support/index.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function hub(options: Parameters<typeof startTestHub>[0] = {}): Promise<TestHub> {
  const t = await startTestHub({ heartbeat: { intervalMs: 200 }, ...options });
  cleanups.push(() => t.close());
  return t;
}

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  cleanups.push(() => r.close());
  return r;
}

const nightly = defineMonitor({ name: 'nightly-export', kind: 'push', intervalMs: 60_000 });

describe('liveness and readiness', () => {
  it('/healthz and /readyz need no token, answer 200 once started, and show no configuration', async () => {
    const t = await hub();
    const live = await apiCall(t.url, 'GET', '/healthz', '');
    expect(live.status).toBe(200);
    const ready = await eventually(async () => {
      const r = await apiCall(t.url, 'GET', '/readyz', '');
      return r.status === 200 ? r : undefined;
    }, 5000, '/readyz to answer 200');
    expect(ready.body).toEqual({ status: 'ready' });
    expect(JSON.stringify(ready.body)).not.toContain(t.dbPath);
  });

  it('a hub that was created but not started is not ready, with the reason', async () => {
    const t = await hub();
    // A second hub on the same store, never started: only its /readyz is asked.
    const idle = await createHub({ flow: customerFlow, store: t.hub.store, apiKeys: [API_KEY], adminTokens: [ADMIN_TOKEN], logger: pino({ level: 'silent' }) });
    const answer = await idle.app.inject({ method: 'GET', url: '/readyz' });
    expect(answer.statusCode).toBe(503);
    expect(answer.json()).toEqual({ status: 'unready', reasons: ['not started'] });
    await idle.app.close();
  });
});

describe('GET /api/v1/health', () => {
  it('needs the admin scope and lists this process with its loops and every configured monitor', async () => {
    const t = await hub({ monitors: [nightly] });
    expect((await apiCall(t.url, 'GET', '/api/v1/health', API_KEY)).status).toBe(403);
    const health = await eventually(async () => {
      const r = await t.get('/api/v1/health');
      return r.body?.processes?.[0]?.loops?.some((l: { name: string }) => l.name === 'ingest') ? r : undefined;
    }, 5000, 'the first beat with loops');
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('up');
    const [process] = health.body.processes;
    expect(process).toMatchObject({ id: t.hub.processId, state: 'up', pid: globalThis.process.pid, roles: ['ingest', 'process', 'deliver', 'pull'] });
    expect(process.loops.map((l: { name: string }) => l.name)).toEqual(expect.arrayContaining(['ingest', 'processor', 'monitors']));
    expect(health.body.monitors).toEqual([expect.objectContaining({ name: 'nightly-export', kind: 'push', state: 'new', configured: true, intervalMs: 60_000 })]);
    // The hub's own process is not listed twice (as a monitor too).
    expect(health.body.monitors.some((m: { name: string }) => m.name.startsWith('process:'))).toBe(false);
  });
});

describe('push beats and pause / resume over the API', () => {
  it('takes beats with an ingest key (POST with a body, or a bare GET), refuses bad ones clearly, and pauses and resumes a monitor', async () => {
    const announced: string[] = [];
    const alerts = defineIntegration({
      name: 'alerts',
      on: { monitors: ['nightly-export'] },
      map: (t) => ({ body: `${t.monitor} ${t.from}→${t.to}` }),
      sink: functionSink(async (request) => void announced.push(String(request.body))),
    });
    const t = await hub({ monitors: [nightly], integrations: [alerts] });
    const beat = (method: 'GET' | 'POST', name: string, body?: unknown, token = API_KEY) => apiCall(t.url, method, `/api/v1/heartbeats/${name}`, token, body);

    expect((await beat('POST', 'nightly-export', { status: 'ok', message: 'exported 1,204 rows' })).status).toBe(200);
    await eventually(async () => (await t.get('/api/v1/monitors/nightly-export')).body.state === 'up', 5000, 'the monitor to be up');
    expect((await t.get('/api/v1/monitors/nightly-export')).body.lastMessage).toBe('exported 1,204 rows');
    expect((await beat('GET', 'nightly-export')).status).toBe(200);

    expect((await beat('POST', 'nightly-export', { status: 'broken' })).status).toBe(400);
    expect((await beat('POST', 'nightly-export', { status: 'ok', extra: 1 })).status).toBe(400);
    const unknown = await beat('POST', 'no-such-monitor', {});
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('UNKNOWN_MONITOR');
    expect((await beat('POST', 'nightly-export', {}, 'wrong-key')).status).toBe(401);

    // An error beat is a transition, announced.
    await beat('POST', 'nightly-export', { status: 'error', message: 'disk full' });
    await eventually(() => announced.includes('nightly-export up→error'), 5000, 'the error to be announced').catch(async (error: unknown) => {
      throw new Error(`${String(error)}: ${JSON.stringify((await t.get('/api/v1/monitors/nightly-export')).body)} ${JSON.stringify((await t.get('/api/v1/deliveries?integration=alerts')).body)}`);
    });

    const paused = await t.call('POST', '/api/v1/monitors/nightly-export/pause');
    expect(paused.status).toBe(200);
    expect(paused.body.state).toBe('paused');
    await beat('POST', 'nightly-export', { status: 'ok' });
    const resumed = await t.call('POST', '/api/v1/monitors/nightly-export/resume');
    expect(resumed.body.state).toBe('new');
    await beat('POST', 'nightly-export', { status: 'ok' });
    await eventually(async () => (await t.get('/api/v1/monitors/nightly-export')).body.state === 'up', 5000, 'up again after resume');

    const page = await t.get('/api/v1/monitors/nightly-export/transitions?limit=2');
    expect(page.body.items.map((i: { to: string }) => i.to)).toEqual(['up', 'new']);
    const rest = await t.get(`/api/v1/monitors/nightly-export/transitions?limit=10&cursor=${page.body.next}`);
    expect(rest.body.items.map((i: { from: string; to: string }) => `${i.from}→${i.to}`)).toEqual(['error→paused', 'up→error', 'new→up']);
    expect(rest.body.next).toBeNull();
    // Pausing and resuming are operator actions; nothing was announced for them or for new→up.
    const actions = await t.get('/api/v1/operator-actions?limit=10');
    expect(actions.body.items.map((a: { action: string }) => a.action)).toEqual(expect.arrayContaining(['monitor.pause', 'monitor.resume']));
    expect(announced).toEqual(['nightly-export up→error']);
  });
});

describe("the outward dead-man's switch", () => {
  it('calls the URL every interval while the process is healthy', async () => {
    const checker = await receiver();
    await hub({ heartbeat: { intervalMs: 200, deadMansSwitchUrl: `${checker.url}/ping/abc`, deadMansSwitchIntervalMs: 1000 } });
    await eventually(() => checker.received.length >= 2, 5000, 'two calls of the heartbeat URL');
    expect(checker.received.every((r) => r.method === 'GET' && r.path === '/ping/abc')).toBe(true);
    const gap = (checker.received[1]?.at ?? 0) - (checker.received[0]?.at ?? 0);
    expect(gap).toBeGreaterThanOrEqual(900);
  });
});

/** A TCP proxy to the test PostgreSQL server that can be cut and restored on the same port. */
async function postgresProxy(target: URL) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const open = async () => {
    server = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  };
  const cut = async () => {
    const closed = new Promise((resolve) => server?.close(resolve));
    for (const s of sockets) s.destroy();
    await closed;
  };
  await open();
  return { port: () => port, cut, restore: open };
}

describe('readiness on PostgreSQL', () => {
  it('/readyz answers 503 while the PostgreSQL server is unreachable, 200 again when it is back; the heartbeat URL is not called meanwhile', { timeout: 60_000 }, async () => {
    const db = await createTestDatabase('readyz');
    cleanups.push(() => db.drop());
    const server = new URL(testDatabaseUrl());
    const proxy = await postgresProxy(server);
    cleanups.push(() => proxy.cut());
    const url = new URL(db.url);
    url.host = `127.0.0.1:${proxy.port()}`;
    const store = new PostgresStore({ url: url.toString(), log: pino({ level: 'silent' }) });
    await store.init();
    const checker = await receiver();
    const t = await hub({ store, heartbeat: { intervalMs: 200, deadMansSwitchUrl: `${checker.url}/ping`, deadMansSwitchIntervalMs: 1000 } });
    const readyz = () => apiCall(t.url, 'GET', '/readyz', '');
    await eventually(async () => (await readyz()).status === 200, 10_000, 'ready');
    await eventually(() => checker.received.length >= 1, 5000, 'a call of the heartbeat URL');

    await proxy.cut();
    const unready = await eventually(async () => {
      const r = await readyz();
      return r.status === 503 && r.body.reasons.includes('the store does not answer') ? r : undefined;
    }, 10_000, '/readyz to answer 503: the store does not answer');
    expect(JSON.stringify(unready.body)).not.toContain(String(proxy.port()));
    const unreadyAt = Date.now();
    // The outage lasts a few switch intervals, checked all along.
    await eventually(async () => (await readyz()).status === 503 && Date.now() - unreadyAt > 2500, 10_000, 'an outage of 2.5 s');
    const callsDuringOutage = checker.received.filter((r) => r.at > unreadyAt + 200).length;
    expect(callsDuringOutage, 'heartbeat URL calls while unready').toBe(0);

    await proxy.restore();
    await eventually(async () => (await readyz()).status === 200, 20_000, '/readyz to answer 200 again');
    const restoredAt = Date.now();
    await eventually(() => checker.received.some((r) => r.at >= restoredAt), 5000, 'the heartbeat URL to be called again');
  });
});
