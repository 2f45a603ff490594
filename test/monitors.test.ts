// Monitors against real local HTTP services and a real SQLite store: a
// service that goes silent is down after its timeout, announced once; it
// comes back, announced once; an answer that says error is error, a slow one
// degraded; push beats keep a monitor up and their absence makes it late,
// then down; flapping is told once and once more when it settles; a paused
// monitor is not checked and tells nothing; a held state is repeated as a
// reminder. Announcements are read back as the deliveries of an integration
// subscribed with `on: { monitors }`.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineIntegration, type MonitorInput } from '../src/delivery/integration.js';
import { Dispatcher } from '../src/delivery/dispatcher.js';
import { functionSink } from '../src/delivery/sinks/function-sink.js';
import { restSink } from '../src/delivery/sinks/rest-sink.js';
import { createAnnouncer } from '../src/health/announcer.js';
import { defineMonitor, type Monitor } from '../src/health/monitor.js';
import { MonitorRunner } from '../src/health/monitor-runner.js';
import { openStore } from '../src/hub/open-store.js';
import type { Delivery } from '../src/store/delivery-types.js';
import type { MonitorState } from '../src/store/health-types.js';
import type { Store } from '../src/store/store.js';
import { eventually, tempDir } from './support/index.js';
import { startReceiver } from './support/receiver.js';

const log = pino({ level: 'silent' });

type Mode = { kind: 'ok' } | { kind: 'silent' } | { kind: 'body'; body: string } | { kind: 'slow'; delayMs: number };

/** A service whose answer the test switches: fine, silent (never answers), a body, or slow. */
async function startService() {
  const service = { mode: { kind: 'ok' } as Mode, requests: 0, url: '', close: async () => undefined as void };
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((_req, res) => {
    service.requests += 1;
    const mode = service.mode;
    if (mode.kind === 'silent') hanging.push(res);
    else if (mode.kind === 'body') res.writeHead(200, { 'content-type': 'application/json' }).end(mode.body);
    else if (mode.kind === 'slow') setTimeout(() => res.writeHead(200).end('{"status":"ok"}'), mode.delayMs);
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  service.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  service.close = async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return service;
}

let dir: ReturnType<typeof tempDir>;
let store: Store;
const cleanups: Array<() => Promise<void>> = [];

beforeEach(async () => {
  dir = tempDir('confluo-monitors-');
  store = await openStore(`sqlite:${join(dir.path, 'hub.db')}`);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await store.close();
  dir.remove();
});

/** Runners for `monitors`, announcing to an integration `alerts` subscribed to all of them. */
async function run(monitors: Monitor[], options: { runners?: number } = {}) {
  const alerts = defineIntegration({
    name: 'alerts',
    on: { monitors: monitors.map((m) => m.name) },
    map: (input) => ({ body: input }),
    sink: functionSink(async () => undefined),
  });
  const announce = createAnnouncer([alerts], monitors);
  const runners = Array.from({ length: options.runners ?? 1 }, () => new MonitorRunner(store.health, monitors, announce, log, { tickMs: 50 }));
  for (const runner of runners) {
    await runner.register();
    runner.start();
    cleanups.push(() => runner.stop());
  }
  const announcements = async (): Promise<MonitorInput[]> => {
    const deliveries: Delivery[] = await store.deliveries.listDeliveries({ integration: 'alerts', limit: 100 });
    return deliveries.reverse().map((d) => d.request!.body as MonitorInput);
  };
  const changes = async () => (await announcements()).map((a) => `${a.from}→${a.to}${a.reminder ? ' (reminder)' : ''}`);
  const state = async (name: string) => (await store.health.getMonitor(name))?.state;
  const reaches = (name: string, wanted: MonitorState, timeoutMs = 5000) => eventually(async () => (await state(name)) === wanted, timeoutMs, `${name} ${wanted}`);
  /** Waits for `count` more checks (or beats) to be written after now. */
  const checksPass = async (name: string, count: number) => {
    const from = Date.now();
    await eventually(async () => ((await store.health.getMonitor(name))?.lastCheckAt ?? 0) > from + (count - 1) * 1000, 5000 + count * 1000, `${count} checks of ${name}`);
  };
  return { runner: runners[0]!, runners, announcements, changes, state, reaches, checksPass };
}

const httpMonitor = (url: string, extra: Partial<Parameters<typeof defineMonitor>[0]> = {}) =>
  defineMonitor({ name: 'crm', kind: 'http', url, intervalMs: 1000, timeoutMs: 400, ...extra } as Parameters<typeof defineMonitor>[0]);

describe('http monitors', () => {
  it('call a service that goes silent down after the timeout, told once; back up, told once; by two runners on one store', async () => {
    const service = await startService();
    cleanups.push(service.close);
    const hub = await run([httpMonitor(service.url)], { runners: 2 });
    await hub.reaches('crm', 'up');
    expect(await hub.changes()).toEqual([]); // new → up is not announced

    service.mode = { kind: 'silent' };
    const started = Date.now();
    await hub.reaches('crm', 'down');
    expect(Date.now() - started).toBeGreaterThanOrEqual(400); // not before the timeout
    await hub.checksPass('crm', 2);
    expect(await hub.changes()).toEqual(['up→down']);
    const [down] = await hub.announcements();
    expect(down).toMatchObject({ kind: 'monitor', monitor: 'crm', monitorKind: 'http', from: 'up', to: 'down', reminder: false, message: 'no answer within 400 ms' });

    service.mode = { kind: 'ok' };
    await hub.reaches('crm', 'up');
    await hub.checksPass('crm', 2);
    expect(await hub.changes()).toEqual(['up→down', 'down→up']);
    const transitions = await store.health.listTransitions('crm', { limit: 10 });
    expect(transitions.map((t) => `${t.from}→${t.to}:${t.announced}`)).toEqual(['down→up:true', 'up→down:true', 'new→up:false']);
  });

  it('call a refused connection down, an answer whose body says error error, a slow answer degraded', async () => {
    const service = await startService();
    cleanups.push(service.close);
    const refused = await startService();
    await refused.close();
    const hub = await run([httpMonitor(service.url, { slowMs: 200, timeoutMs: 800 }), httpMonitor(refused.url, { name: 'billing' })]);

    await hub.reaches('billing', 'down');
    expect((await store.health.getMonitor('billing'))?.lastMessage).toBe('connection refused');

    await hub.reaches('crm', 'up');
    service.mode = { kind: 'body', body: '{"status":"ERROR","detail":"db gone"}' };
    await hub.reaches('crm', 'error');
    expect((await store.health.getMonitor('crm'))?.lastMessage).toBe('body says status "ERROR"');
    expect((await store.health.getMonitor('crm'))?.lastDetails).toMatchObject({ status: 200 });

    service.mode = { kind: 'slow', delayMs: 350 };
    await hub.reaches('crm', 'degraded');
    expect((await store.health.getMonitor('crm'))?.lastMessage).toMatch(/^answered in \d+ ms \(slow: over 200 ms\)$/);
    expect((await hub.announcements()).map((a) => `${a.monitor}:${a.from}→${a.to}`)).toEqual(['billing:new→down', 'crm:up→error', 'crm:error→degraded']);
  });

  it('check an expectation on the body', async () => {
    const service = await startService();
    cleanups.push(service.close);
    service.mode = { kind: 'body', body: '{"checks":{"db":{"ok":false}}}' };
    const hub = await run([httpMonitor(service.url, { expect: { json: { path: 'checks.db.ok', equals: true } } })]);
    await hub.reaches('crm', 'error');
    expect((await store.health.getMonitor('crm'))?.lastMessage).toBe("body's checks.db.ok is false, expected true");
  });

  it('are not checked while paused and tell nothing; resumed, the next check decides and tells', async () => {
    const service = await startService();
    const other = await startService();
    cleanups.push(service.close, other.close);
    const hub = await run([httpMonitor(service.url), httpMonitor(other.url, { name: 'billing' })]);
    await hub.reaches('crm', 'up');
    expect(await hub.runner.pause('crm')).toMatchObject({ state: 'paused' });
    expect(await hub.runner.pause('nope')).toBeUndefined();
    service.mode = { kind: 'silent' };
    const requests = service.requests;
    // The runner goes on checking the other monitor: two of its checks later, crm was never called.
    await hub.checksPass('billing', 2);
    expect(service.requests).toBe(requests);
    expect(await hub.state('crm')).toBe('paused');
    expect(await hub.changes()).toEqual([]);

    expect(await hub.runner.resume('crm')).toMatchObject({ state: 'new' });
    await hub.reaches('crm', 'down');
    expect(await hub.changes()).toEqual(['new→down']);
  });

  it('repeat a held state every remindEveryMs, and the dispatcher sends each announcement like any delivery', async () => {
    const receiver = await startReceiver();
    cleanups.push(receiver.close);
    const service = await startService();
    cleanups.push(service.close);
    service.mode = { kind: 'body', body: '{"status":"down"}' };
    const monitor = httpMonitor(service.url, { remindEveryMs: 1000 });
    const slack = defineIntegration({ name: 'slack', on: { monitors: ['crm'] }, map: (input) => ({ body: { text: `${input.monitor} is ${input.to}${input.reminder ? ' (still)' : ''}` } }), sink: restSink({ url: receiver.url }) });
    const runner = new MonitorRunner(store.health, [monitor], createAnnouncer([slack], [monitor]), log, { tickMs: 50 });
    const dispatcher = new Dispatcher(store.deliveries, [slack], log, { pollMs: 50 });
    await store.deliveries.registerIntegrations(['slack'], Date.now());
    await runner.register();
    runner.start();
    dispatcher.start();
    cleanups.push(() => runner.stop(), () => dispatcher.stop());

    await eventually(() => receiver.received.length >= 3, 6000, 'an announcement and two reminders');
    expect(receiver.received.slice(0, 3).map((r) => r.body.text)).toEqual(['crm is error', 'crm is error (still)', 'crm is error (still)']);
    const deliveries = await store.deliveries.listDeliveries({ integration: 'slack', limit: 10 });
    const [first, second, third] = deliveries.reverse();
    expect(first).toMatchObject({ kind: 'monitor', entity: 'monitor', key: 'crm', status: 'succeeded' });
    expect(second!.eventId).toBe(`${first!.eventId}:reminder:${second!.createdAt}`);
    expect(third!.createdAt - second!.createdAt).toBeGreaterThanOrEqual(1000);
    expect(await store.health.listTransitions('crm', { limit: 10 })).toHaveLength(1); // reminders are not transitions
  });
});

describe('push monitors', () => {
  it('stay up while beats come, are late after the interval and down after the grace without them', async () => {
    const hub = await run([defineMonitor({ name: 'export', kind: 'push', intervalMs: 1000, graceMs: 1000 })]);
    expect(await hub.runner.beat('export', { status: 'ok' })).toBe('recorded');
    expect(await hub.runner.beat('nope', { status: 'ok' })).toBe('unknown');
    await hub.reaches('export', 'up');
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      await hub.runner.beat('export', { status: 'ok', message: 'exported 12 rows' });
      await eventually(async () => ((await store.health.getMonitor('export'))?.lastCheckAt ?? 0) < Date.now() - 300, 2000, 'the next beat time');
      expect(await hub.state('export')).toBe('up');
    }
    const lastBeat = (await store.health.getMonitor('export'))!.lastCheckAt!;
    await hub.reaches('export', 'late');
    expect(Date.now() - lastBeat).toBeGreaterThanOrEqual(900);
    await hub.reaches('export', 'down');
    expect(Date.now() - lastBeat).toBeGreaterThanOrEqual(1900);
    const told = await hub.announcements();
    expect(told.map((a) => `${a.from}→${a.to}`)).toEqual(['up→late', 'late→down']);
    expect(told[1]).toMatchObject({ monitorKind: 'push', message: expect.stringMatching(/^no beat for 2(\.\d)? s \(expected every 1 s\)$/) });

    await hub.runner.beat('export', { status: 'error', message: 'disk full' });
    await hub.reaches('export', 'error');
    expect((await hub.announcements()).at(-1)).toMatchObject({ from: 'down', to: 'error', message: 'disk full' });
  });

  it('refuse a beat for an http monitor', async () => {
    const hub = await run([httpMonitor('http://127.0.0.1:9/health')]);
    expect(await hub.runner.beat('crm', { status: 'ok' })).toBe('not-push');
  });

  it('that flap are told once, silent while flapping, and told once where they settle', async () => {
    const hub = await run([defineMonitor({ name: 'export', kind: 'push', intervalMs: 5000, flapping: { transitions: 2, windowMs: 1000 } })]);
    for (const status of ['ok', 'error', 'ok', 'error', 'ok', 'error', 'ok'] as const) await hub.runner.beat('export', { status });
    expect(await hub.state('export')).toBe('flapping');
    // The first beat (new → up) is not the service changing: the third change is one too many.
    expect(await hub.changes()).toEqual(['up→error', 'error→up', 'up→flapping']);
    await hub.reaches('export', 'up', 3000);
    expect(await hub.changes()).toEqual(['up→error', 'error→up', 'up→flapping', 'flapping→up']);
    expect((await store.health.listTransitions('export', { limit: 10 })).length).toBe(5); // new→up, up→error, error→up, →flapping, →up
  });
});
