// The events-protocol client against real servers on 127.0.0.1: a plain
// node:http server for what a hub never does (wrong statuses, garbage, silence)
// and a real hub for the protocol answers.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { API_KEY, contact, startTestHub, type TestHub } from '../../test/support/index.js';
import { classify, createEventClient } from './client.js';
import type { ResponseEnvelope } from './envelope.js';
import { HandlerRegistry, redirect } from './registry.js';

interface Received {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  body: any;
}

interface LocalServer {
  url: string;
  received: Received[];
  close: () => Promise<void>;
}

/** A real HTTP server on 127.0.0.1 and a free port; records each request (body parsed as JSON). */
async function startServer(answer: (req: IncomingMessage, res: ServerResponse, body: any) => void): Promise<LocalServer> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      answer(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/events`,
    received,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** Answers each request as a hub would: `<name>:response`, echoing the request's ids. */
const echoResponse = (_req: IncomingMessage, res: ServerResponse, body: any) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ name: `${body.name}:response`, version: body.version, id: body.id, flowId: body.flowId, payload: { ok: true }, identity: {}, auth: {}, metadata: {} }));
};

const fixed = (status: number, text: string) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(text);
};

describe('event client against a plain HTTP server', () => {
  const servers: LocalServer[] = [];
  const serve = async (answer: Parameters<typeof startServer>[0]) => {
    const s = await startServer(answer);
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('fills id and flowId when missing: non-empty, and fresh for every send', async () => {
    const server = await serve(echoResponse);
    const client = createEventClient({ url: server.url });
    await client.send('test:ping', 1, { a: 1 });
    await client.send('test:ping', 1, { a: 2 });
    expect(server.received).toHaveLength(2);
    const [first, second] = server.received.map((r) => r.body);
    for (const body of [first, second]) {
      expect(typeof body.id).toBe('string');
      expect(body.id.length).toBeGreaterThan(0);
      expect(typeof body.flowId).toBe('string');
      expect(body.flowId.length).toBeGreaterThan(0);
    }
    expect(first.id).not.toBe(second.id);
    expect(first.flowId).not.toBe(second.flowId);
  });

  it('sends a full eight-field envelope as JSON with POST', async () => {
    const server = await serve(echoResponse);
    const client = createEventClient({ url: server.url });
    await client.send('test:ping', 3, { a: 1 }, { identity: { userId: 'u1' }, metadata: { origin: 'tests' } });
    const [r] = server.received;
    expect(r!.method).toBe('POST');
    expect(r!.url).toBe('/events');
    expect(r!.headers['content-type']).toBe('application/json');
    expect(Object.keys(r!.body).sort()).toEqual(['auth', 'flowId', 'id', 'identity', 'metadata', 'name', 'payload', 'version']);
    expect(r!.body).toMatchObject({ name: 'test:ping', version: 3, payload: { a: 1 }, identity: { userId: 'u1' }, auth: {}, metadata: { origin: 'tests' } });
  });

  it('keeps the id and flowId it is given', async () => {
    const server = await serve(echoResponse);
    const client = createEventClient({ url: server.url });
    const result = await client.send('test:ping', 1, {}, { id: 'my-id-1', flowId: 'my-flow-1' });
    expect(server.received[0]!.body).toMatchObject({ id: 'my-id-1', flowId: 'my-flow-1' });
    expect(result).toMatchObject({ kind: 'success', payload: { ok: true }, event: { id: 'my-id-1', flowId: 'my-flow-1' } });
  });

  it('sends `Authorization: Bearer <apiKey>` when an apiKey is set, and no Authorization header otherwise', async () => {
    const server = await serve(echoResponse);
    await createEventClient({ url: server.url, apiKey: 'ck_secret_123' }).send('test:ping', 1, {});
    await createEventClient({ url: server.url }).send('test:ping', 1, {});
    expect(server.received[0]!.headers.authorization).toBe('Bearer ck_secret_123');
    expect(server.received[1]!.headers.authorization).toBeUndefined();
  });

  it('returns failedDependency with the status and body for a non-2xx answer', async () => {
    const server = await serve(fixed(503, 'upstream is down'));
    const result = await createEventClient({ url: server.url }).send('test:ping', 1, {});
    expect(result).toEqual({ kind: 'failedDependency', status: 503, body: 'upstream is down' });
    const notFound = await serve(fixed(404, 'no such route'));
    expect(await createEventClient({ url: notFound.url }).send('test:ping', 1, {})).toEqual({ kind: 'failedDependency', status: 404, body: 'no such route' });
  });

  it('returns failedDependency with the raw body for HTTP 200 with an unparseable body', async () => {
    const server = await serve(fixed(200, '<html>not json</html>'));
    const result = await createEventClient({ url: server.url }).send('test:ping', 1, {});
    expect(result).toEqual({ kind: 'failedDependency', status: 200, body: '<html>not json</html>' });
  });

  it('returns failedDependency for HTTP 200 with JSON that is not an envelope', async () => {
    const server = await serve(fixed(200, '[{"name":"x:response"}]'));
    const result = await createEventClient({ url: server.url }).send('test:ping', 1, {});
    expect(result).toEqual({ kind: 'failedDependency', status: 200, body: '[{"name":"x:response"}]' });
  });

  it('returns failedDependency with the error when the connection is refused', async () => {
    const server = await startServer(echoResponse);
    await server.close();
    const result = await createEventClient({ url: server.url, timeoutMs: 5_000 }).send('test:ping', 1, {});
    expect(result.kind).toBe('failedDependency');
    if (result.kind !== 'failedDependency') throw new Error('unreachable');
    expect(result.status).toBeUndefined();
    expect(result.error).toBeInstanceOf(Error);
    expect((result.error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('returns timeout when the server answers slower than timeoutMs', async () => {
    const server = await serve((_req, res, body) => {
      const timer = setTimeout(() => echoResponse(_req, res, body), 2_000);
      res.on('close', () => clearTimeout(timer));
    });
    const client = createEventClient({ url: server.url, timeoutMs: 100 });
    const started = Date.now();
    const result = await client.send('test:ping', 1, {});
    const elapsed = Date.now() - started;
    expect(result).toEqual({ kind: 'timeout', timeoutMs: 100 });
    expect(elapsed).toBeGreaterThanOrEqual(90);
    expect(elapsed).toBeLessThan(1_500);
  });

  it('lets one send override the client timeout', async () => {
    const server = await serve((_req, res, body) => {
      const timer = setTimeout(() => echoResponse(_req, res, body), 300);
      res.on('close', () => clearTimeout(timer));
    });
    const client = createEventClient({ url: server.url, timeoutMs: 5_000 });
    expect(await client.send('test:ping', 1, {}, { timeoutMs: 50 })).toEqual({ kind: 'timeout', timeoutMs: 50 });
    const slowOk = createEventClient({ url: server.url, timeoutMs: 50 });
    expect(await slowOk.send('test:ping', 1, {}, { timeoutMs: 5_000 })).toMatchObject({ kind: 'success', payload: { ok: true } });
  });

  it('returns timeout when the headers arrive in time but the body stalls', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"name":"test:ping:respo');
    });
    const started = Date.now();
    const result = await createEventClient({ url: server.url, timeoutMs: 100 }).send('test:ping', 1, {});
    expect(result).toEqual({ kind: 'timeout', timeoutMs: 100 });
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});

describe('event client against a hub', () => {
  let t: TestHub;
  beforeAll(async () => {
    const registry = new HandlerRegistry().register({
      name: 'test:go',
      version: 1,
      payload: z.object({ step: z.number() }),
      handle: (req) => redirect('https://example.com/next', { step: req.payload.step + 1 }),
    });
    t = await startTestHub({ process: false, registry });
  });
  afterAll(async () => {
    await t?.close();
  });

  const client = () => createEventClient({ url: `${t.url}/events`, apiKey: API_KEY, timeoutMs: 5_000 });

  it('returns success with the payload, and the answer keeps the ids it filled in', async () => {
    const result = await client().send('crm:contact:updated', 1, contact('7001', 'Ana'));
    expect(result.kind).toBe('success');
    if (result.kind !== 'success') throw new Error('unreachable');
    expect(result.payload).toEqual({ status: 'accepted', eventId: result.event.id });
    expect(result.event.name).toBe('crm:contact:updated:response');
    expect(result.event.id.length).toBeGreaterThan(0);
    expect(result.event.flowId.length).toBeGreaterThan(0);
  });

  it('returns redirect with url and queryParameters', async () => {
    const result = await client().send('test:go', 1, { step: 1 });
    expect(result).toMatchObject({ kind: 'redirect', url: 'https://example.com/next', queryParameters: { step: 2 }, event: { name: 'test:go:redirect' } });
  });

  it('returns error typed badRequest with its code and parameters', async () => {
    const result = await client().send('crm:contact:updated', 1, { ...contact('7002', 'Ana'), email: 'nope' });
    expect(result).toMatchObject({ kind: 'error', type: 'badRequest', code: 'INVALID_PAYLOAD', event: { name: 'crm:contact:updated:badRequest' } });
    if (result.kind !== 'error') throw new Error('unreachable');
    expect((result.parameters.fields as Array<{ name: string }>).map((f) => f.name)).toEqual(['email']);
  });

  it('returns error typed unauthorized without a key, and success with the key as auth.token', async () => {
    const anonymous = createEventClient({ url: `${t.url}/events` });
    expect(await anonymous.send('crm:contact:updated', 1, contact('7003', 'Ana'))).toMatchObject({ kind: 'error', type: 'unauthorized', code: 'UNAUTHORIZED' });
    expect(await anonymous.send('crm:contact:updated', 1, contact('7004', 'Ana'), { auth: { token: API_KEY } })).toMatchObject({
      kind: 'success',
      payload: { status: 'accepted' },
    });
  });

  it('types the bare eventNotFound answer as an error of type eventNotFound', async () => {
    const result = await client().send('no:such:event', 4, {});
    expect(result).toMatchObject({ kind: 'error', type: 'eventNotFound', code: 'NO_EVENT_HANDLER_FOUND', parameters: { event: 'no:such:event', version: 4 } });
  });
});

describe('classify', () => {
  const event = (name: string, payload: unknown): ResponseEnvelope => ({ name, version: 1, id: 'i', flowId: 'f', payload, identity: {}, auth: {}, metadata: {} });

  it('types an answer by the suffix after the last colon', () => {
    expect(classify(event('a:b:c:response', { x: 1 }))).toMatchObject({ kind: 'success', payload: { x: 1 } });
    expect(classify(event('a:b:redirect', { url: 'https://u', queryParameters: { q: 1 } }))).toMatchObject({ kind: 'redirect', url: 'https://u', queryParameters: { q: 1 } });
    expect(classify(event('a:b:forbidden', { code: 'NOPE', parameters: { a: 1 } }))).toMatchObject({ kind: 'error', type: 'forbidden', code: 'NOPE', parameters: { a: 1 } });
    expect(classify(event('badProtocol', { code: 'INVALID_COMMUNICATION_PROTOCOL', parameters: { propertyName: 'id' } }))).toMatchObject({
      kind: 'error',
      type: 'badProtocol',
      parameters: { propertyName: 'id' },
    });
  });

  it('keeps an unknown suffix as the error type and tolerates a missing error payload', () => {
    expect(classify(event('a:b:gone', null))).toMatchObject({ kind: 'error', type: 'gone', code: 'UNKNOWN', parameters: {} });
  });
});
