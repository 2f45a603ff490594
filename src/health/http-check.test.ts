// One http check against a real local server: what each kind of answer
// means, in words people read, and a body read only so far.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboundAgent } from '../security/outbound-agent.js';
import { outboundPolicy } from '../security/outbound-policy.js';
import { BODY_LIMIT, checkHttp, formatDuration } from './http-check.js';
import { defineMonitor, type HttpMonitor, type HttpMonitorOptions } from './monitor.js';

let server: Server;
let base = '';
const agent = new Agent();

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path === '/503') res.writeHead(503).end('busy');
    else if (path === '/fail') res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"Fail"}');
    else if (path === '/never') return; // holds the request: no answer
    else if (path === '/long') res.writeHead(200).end(`${'x'.repeat(BODY_LIMIT)}MAINTENANCE`);
    else if (path === '/head') res.writeHead(req.method === 'HEAD' ? 204 : 405).end();
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok","version":"1.2.3"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await agent.close();
});

const monitor = (path: string, extra: Partial<HttpMonitorOptions> = {}) =>
  defineMonitor({ name: 'svc', kind: 'http', url: `${base}${path}`, intervalMs: 1000, timeoutMs: 200, ...extra }) as HttpMonitor;

describe('checkHttp', () => {
  it('is up on a 2xx whose body does not say otherwise', async () => {
    expect(await checkHttp(monitor('/ok'), agent)).toMatchObject({ observed: 'up', message: expect.stringMatching(/^HTTP 200 in \d+ ms$/), details: { status: 200 } });
  });

  it('is error on a non-2xx, or a body whose status is error, down or fail in any case', async () => {
    expect(await checkHttp(monitor('/503'), agent)).toMatchObject({ observed: 'error', message: 'HTTP 503', details: { status: 503 } });
    expect(await checkHttp(monitor('/fail'), agent)).toMatchObject({ observed: 'error', message: 'body says status "Fail"' });
  });

  it('is error when an expectation is not met', async () => {
    expect(await checkHttp(monitor('/ok', { expect: { json: { path: 'version', equals: '2.0.0' } } }), agent)).toMatchObject({ observed: 'error', message: 'body\'s version is "1.2.3", expected "2.0.0"' });
    expect(await checkHttp(monitor('/ok', { expect: { json: { path: 'version', equals: '1.2.3' } } }), agent)).toMatchObject({ observed: 'up' });
    expect(await checkHttp(monitor('/ok', { expect: { contains: 'ready' } }), agent)).toMatchObject({ observed: 'error', message: 'body does not contain "ready"' });
    expect(await checkHttp(monitor('/ok', { expect: { notContains: '"ok"' } }), agent)).toMatchObject({ observed: 'error', message: 'body contains "\\"ok\\""' });
  });

  it('reads no more of a body than BODY_LIMIT', async () => {
    expect(await checkHttp(monitor('/long', { expect: { notContains: 'MAINTENANCE' } }), agent)).toMatchObject({ observed: 'up' });
  });

  it('asks with HEAD when told to', async () => {
    expect(await checkHttp(monitor('/head', { method: 'HEAD' }), agent)).toMatchObject({ observed: 'up', details: { status: 204 } });
  });

  it('is down on no answer within the timeout, or a refused connection', async () => {
    expect(await checkHttp(monitor('/never'), agent)).toMatchObject({ observed: 'down', message: 'no answer within 200 ms' });
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = defineMonitor({ name: 'gone', kind: 'http', url: `http://127.0.0.1:${port}/`, intervalMs: 1000 }) as HttpMonitor;
    expect(await checkHttp(refused, agent)).toMatchObject({ observed: 'down', message: 'connection refused' });
  });

  it('is degraded when a good answer is slower than slowMs, with the times in words', async () => {
    let tick = 0;
    const clock = () => (tick++ === 0 ? 0 : 2345);
    expect(await checkHttp(monitor('/ok', { slowMs: 150 }), agent, clock)).toMatchObject({ observed: 'degraded', message: 'answered in 2.3 s (slow: over 150 ms)', details: { durationMs: 2345 } });
    expect([formatDuration(999), formatDuration(1000), formatDuration(2345)]).toEqual(['999 ms', '1 s', '2.3 s']);
  });

  it('does not call where the outbound policy refuses', async () => {
    const strict = outboundAgent(() => outboundPolicy({ allowLoopback: false }));
    try {
      expect(await checkHttp(monitor('/ok'), strict)).toMatchObject({ observed: 'down', message: expect.stringMatching(/^not called: .*loopback/) });
    } finally {
      await strict.close();
    }
  });
});
