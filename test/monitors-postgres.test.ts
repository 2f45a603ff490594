// Two hubs on one PostgreSQL watch the same service: each transition is
// written and announced once between them, whoever checked.
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { defineIntegration, defineMonitor, functionSink } from '../src/index.js';
import { PostgresStore } from '../src/store/postgres/index.js';
import { createTestDatabase } from './support/postgres.js';
import { eventually, startTestHub } from './support/index.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A service answering /health with 200 that can be stopped and started again on the same port. */
async function service() {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let port = 0;
  const start = async () => {
    server = createServer((_req, res) => res.end('{"status":"ok"}'));
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  };
  const stop = async () => {
    const closed = new Promise((resolve) => server?.close(resolve));
    for (const s of sockets) s.destroy();
    await closed;
  };
  await start();
  cleanups.push(stop);
  return { url: () => `http://127.0.0.1:${port}/health`, start, stop };
}

describe('monitors on PostgreSQL, two hubs', () => {
  it('announce each transition of a watched service exactly once between them', { timeout: 60_000 }, async () => {
    const db = await createTestDatabase('monitors_two');
    cleanups.push(() => db.drop());
    const crm = await service();
    const announced: string[] = [];
    const hubs = [];
    for (let i = 0; i < 2; i++) {
      const monitor = defineMonitor({ name: 'crm', kind: 'http', url: crm.url(), intervalMs: 1000, timeoutMs: 500 });
      const alerts = defineIntegration({
        name: 'alerts',
        on: { monitors: ['crm'] },
        map: (t) => ({ body: `${t.from}→${t.to}` }),
        sink: functionSink(async (request) => void announced.push(String(request.body))),
      });
      const store = new PostgresStore({ url: db.url, log: pino({ level: 'silent' }) });
      await store.init();
      const t = await startTestHub({ store, monitors: [monitor], integrations: [alerts], heartbeat: { intervalMs: 250 }, dispatcher: { pollMs: 50 } });
      cleanups.push(() => t.close());
      hubs.push(t);
    }
    const [first] = hubs;
    const state = async () => (await first!.get('/api/v1/monitors/crm')).body.state as string;
    await eventually(async () => (await state()) === 'up', 10_000, 'crm up');

    await crm.stop();
    await eventually(() => announced.includes('up→down'), 10_000, 'the down announcement');
    await crm.start();
    await eventually(() => announced.includes('down→up'), 10_000, 'the up announcement');
    expect(await state()).toBe('up');

    expect(announced).toEqual(['up→down', 'down→up']);
    const transitions = await first!.get('/api/v1/monitors/crm/transitions?limit=10');
    expect(transitions.body.items.map((i: { from: string; to: string; announced: boolean }) => `${i.from}→${i.to}${i.announced ? '' : ' (silent)'}`)).toEqual([
      'down→up',
      'up→down',
      'new→up (silent)',
    ]);
    const deliveries = await first!.get('/api/v1/deliveries?integration=alerts&limit=10');
    expect(deliveries.body.items).toHaveLength(2);
  });
});
