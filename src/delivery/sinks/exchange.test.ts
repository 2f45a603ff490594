// One request on undici's dispatch(): the deadline counts queueing and stops a
// queued request before it is written, 1xx answers are skipped, only the start
// of a large body is kept (and the connection stays usable), and errors reach
// the caller. Against a real local server.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Pool } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deadlines } from './deadline.js';
import { exchange, NoAnswerError } from './exchange.js';

const run = promisify(execFile);

describe('exchange', () => {
  let server: Server;
  let origin: string;
  let pool: Pool;
  const seen: string[] = [];
  let handle: (req: IncomingMessage, res: ServerResponse) => void;
  const limits = { excerpt: 16, deadlines: deadlines() };

  beforeEach(async () => {
    seen.length = 0;
    server = createServer((req, res) => {
      seen.push(req.url ?? '');
      handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    pool = new Pool(origin, { connections: 1 });
  });
  afterEach(async () => {
    await pool.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('answers with the status, the headers and the body, and sends the body it was given', async () => {
    handle = (req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString()));
      req.on('end', () => res.writeHead(201, { 'x-got': text }).end('made'));
    };
    const answer = await exchange(pool, { origin, path: '/a?b=1', method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }, 5000, limits);
    expect(answer).toMatchObject({ status: 201, body: 'made', headers: { 'x-got': 'hello' } });
    expect(seen).toEqual(['/a?b=1']);
  });

  it('skips 1xx answers and reports the final one', async () => {
    handle = (_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload' });
      res.writeHead(204).end();
    };
    const answer = await exchange(pool, { origin, path: '/', method: 'GET' }, 5000, limits);
    expect(answer.status).toBe(204);
    expect(answer.body).toBe('');
  });

  it('keeps the first characters of a large body, whole characters only, and the connection serves the next request', async () => {
    // 'é' is two bytes: the kept bytes end in the middle of one, the excerpt does not.
    handle = (req, res) => res.end(req.url === '/big' ? 'é'.repeat(500_000) : 'next');
    const big = await exchange(pool, { origin, path: '/big', method: 'GET' }, 5000, limits);
    expect(big.body).toBe('é'.repeat(16));
    const next = await exchange(pool, { origin, path: '/next', method: 'GET' }, 5000, limits);
    expect(next.body).toBe('next');
  });

  it('settles with the start of a body that never ends, and drops that connection', async () => {
    let closed = false;
    handle = (req, res) => {
      if (req.url !== '/endless') return void res.end('next');
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const more = () => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', more);
      res.on('close', () => (closed = true));
      more();
    };
    const started = Date.now();
    const answer = await exchange(pool, { origin, path: '/endless', method: 'GET' }, 10_000, limits);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(answer).toMatchObject({ status: 200, body: 'a'.repeat(16) });
    await expect.poll(() => closed).toBe(true);
    expect((await exchange(pool, { origin, path: '/next', method: 'GET' }, 5000, limits)).body).toBe('next');
  });

  it('gives up after the deadline and aborts the request in flight', async () => {
    let closed = false;
    handle = (req) => req.socket.on('close', () => (closed = true));
    const started = Date.now();
    const error = await exchange(pool, { origin, path: '/slow', method: 'GET' }, 100, limits).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoAnswerError);
    expect((error as Error).message).toBe('no answer within 100 ms');
    expect(Date.now() - started).toBeGreaterThanOrEqual(99);
    await expect.poll(() => closed).toBe(true);
  });

  it('counts time spent queued, and never writes a request whose deadline passed in the queue', async () => {
    // One connection: the second request waits behind the first, which answers after 400 ms.
    handle = (req, res) => (req.url === '/first' ? setTimeout(() => res.end('first'), 400) : res.end('second'));
    const first = exchange(pool, { origin, path: '/first', method: 'GET' }, 5000, limits);
    const started = Date.now();
    const second = await exchange(pool, { origin, path: '/second', method: 'POST', body: 'x' }, 100, limits).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(NoAnswerError);
    // Settled at its deadline, not when the connection came free.
    expect(Date.now() - started).toBeLessThan(350);
    expect((await first).body).toBe('first');
    // The connection is free now; the expired request was dropped, not sent late.
    const third = await exchange(pool, { origin, path: '/third', method: 'GET' }, 5000, limits);
    expect(third.body).toBe('second');
    expect(seen).toEqual(['/first', '/third']);
  });

  it('works through the undici inside Node, which is the process-wide dispatcher when fetch ran first', async () => {
    handle = (req, res) => (req.url === '/slow' ? undefined : res.writeHead(202, { 'x-seen': req.url ?? '' }).end('ok'));
    // A fresh process, as a hub whose config called fetch before the first delivery: Node's own
    // undici installs its Agent, and undici 7 then hands that one out as the global dispatcher.
    const script = `
      await (await fetch(process.argv[1] + '/warm')).text();
      const { Agent, getGlobalDispatcher } = await import('undici');
      const { exchange } = await import(${JSON.stringify(new URL('./exchange.ts', import.meta.url).href)});
      const { deadlines } = await import(${JSON.stringify(new URL('./deadline.ts', import.meta.url).href)});
      const dispatcher = getGlobalDispatcher();
      const limits = { excerpt: 16, deadlines: deadlines() };
      const answer = await exchange(dispatcher, { origin: process.argv[1], path: '/via-node', method: 'PUT', body: '{}' }, 5000, limits);
      const late = await exchange(dispatcher, { origin: process.argv[1], path: '/slow', method: 'GET' }, 100, limits).then(() => 'answered', (e) => e.message);
      console.log(JSON.stringify({ undici7: dispatcher instanceof Agent, answer, late }));
      process.exit(0);
    `;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, origin]);
    expect(JSON.parse(stdout)).toMatchObject({ undici7: false, answer: { status: 202, body: 'ok', headers: { 'x-seen': '/via-node' } }, late: 'no answer within 100 ms' });
  });

  it('rejects with the connection error when nothing listens', async () => {
    const closedPool = new Pool('http://127.0.0.1:9', { connections: 1 });
    const error = await exchange(closedPool, { origin: 'http://127.0.0.1:9', path: '/', method: 'GET' }, 5000, limits).catch((e: unknown) => e);
    await closedPool.destroy();
    expect(error).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('rejects when undici refuses the request itself', async () => {
    const error = await exchange(pool, { origin, path: '/', method: 'GET', headers: { 'bad header': 'x' } }, 5000, limits).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'InvalidArgumentError' });
    expect(seen).toEqual([]);
  });
});
