// The Sink contract: one suite every sink driver runs (`describeSinkContract`).
// A real receiver on 127.0.0.1 misbehaves by path (/500, /429, /slow, /reset, …);
// whatever the driver, its answer must classify the way Standard Webhooks says.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify } from './outcome.js';
import type { Sink, SinkContext } from './sink.js';

export interface ReceivedRequest {
  method: string;
  /** As sent, percent-encoding and query included. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The raw body, for signature checks. */
  body: string;
}

/** Answers one request; the receiver has already recorded it. */
export type Route = (req: IncomingMessage, res: ServerResponse, received: ReceivedRequest) => void;

export interface Receiver {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  /** Every request, in arrival order. */
  received: ReceivedRequest[];
  /** The requests whose path starts with `prefix` (e.g. `/echo`). */
  to: (prefix: string) => ReceivedRequest[];
  close: () => Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

/** The misbehaviours, by first path segment. */
export const MISBEHAVIOURS: Record<string, Route> = {
  '/ok': (_req, res) => json(res, 200, { ok: true }),
  '/500': (_req, res) => json(res, 500, { error: 'boom' }),
  '/429': (_req, res) => json(res, 429, { error: 'slow down' }, { 'retry-after': '7' }),
  '/410': (_req, res) => json(res, 410, { error: 'gone' }),
  '/400': (_req, res) => json(res, 400, { error: 'bad request' }),
  '/slow': (_req, res) => {
    const timer = setTimeout(() => json(res, 200, { ok: 'late' }), 2_000);
    res.on('close', () => clearTimeout(timer));
  },
  '/reset': (req) => {
    req.socket.destroy();
  },
  // Answers with what it got, so a test can see whether the sink masks an echoed secret.
  '/echo': (_req, res, received) => json(res, 200, received),
};

/** A receiver on 127.0.0.1 that records every request and answers by the first path segment (404 otherwise). */
export async function startReceiver(extra: Record<string, Route> = {}): Promise<Receiver> {
  const routes = { ...MISBEHAVIOURS, ...extra };
  const received: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '/';
      const entry: ReceivedRequest = { method: req.method ?? '', path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(entry);
      const route = routes[`/${new URL(path, 'http://receiver').pathname.split('/')[1] ?? ''}`];
      if (route) route(req, res, entry);
      else json(res, 404, { error: `no route for ${path}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    to: (prefix) => received.filter((r) => r.path.startsWith(prefix)),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

export const contractContext = (over: Partial<SinkContext> = {}): SinkContext => ({
  deliveryId: 'msg_test',
  attempt: 1,
  integration: 'contract',
  entity: 'customer',
  key: 'CC-1',
  eventId: 'e1',
  timeoutMs: 300,
  ...over,
});

/**
 * Runs the delivery contract against one sink driver. `makeSink` gets the full
 * URL of the behaviour under test (`http://127.0.0.1:<port>/500`) and builds a sink that
 * delivers there.
 */
export function describeSinkContract(name: string, makeSink: (baseUrl: string) => Sink): void {
  describe(`Sink contract: ${name}`, () => {
    let receiver: Receiver;
    beforeAll(async () => {
      receiver = await startReceiver();
    });
    afterAll(async () => {
      await receiver.close();
    });

    const body = { customer: 'CC-1', name: 'Ana Souza', cents: 123_456, tags: ['vip'], nested: { ok: true, none: null } };
    const send = async (path: string) => {
      const sink = makeSink(`${receiver.url}${path}`);
      const startedAt = Date.now();
      const response = await sink.send({ body }, contractContext());
      return { response, verdict: classify(response, Date.now()), elapsedMs: Date.now() - startedAt };
    };

    it('succeeds on 2xx, and the receiver gets the exact JSON body', async () => {
      const before = receiver.to('/ok').length;
      const { response, verdict } = await send('/ok');
      expect(verdict).toEqual({ kind: 'success' });
      expect(response.status).toBe(200);
      const got = receiver.to('/ok').slice(before);
      expect(got).toHaveLength(1);
      expect(got[0]!.method).toBe('POST');
      expect(got[0]!.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(got[0]!.body)).toEqual(body);
    });

    it('keeps the receiver\'s answer as the response excerpt', async () => {
      const { response } = await send('/400');
      expect(response.body).toBe('{"error":"bad request"}');
    });

    it('retries on 500', async () => {
      const { response, verdict } = await send('/500');
      expect(response.status).toBe(500);
      expect(verdict).toEqual({ kind: 'retry', reason: 'HTTP 500' });
    });

    it('retries on 429 no sooner than its Retry-After', async () => {
      const { response, verdict } = await send('/429');
      expect(response.status).toBe(429);
      expect(verdict).toEqual({ kind: 'retry', retryAfterMs: 7_000, reason: 'HTTP 429' });
    });

    it('disables the integration on 410', async () => {
      const { response, verdict } = await send('/410');
      expect(response.status).toBe(410);
      expect(verdict).toEqual({ kind: 'disable', reason: 'the receiver answered 410 Gone' });
    });

    it('fails for good on 400', async () => {
      const { response, verdict } = await send('/400');
      expect(response.status).toBe(400);
      expect(verdict).toEqual({ kind: 'fail', reason: 'HTTP 400' });
    });

    it('gives up waiting after timeoutMs and retries', async () => {
      const { response, verdict, elapsedMs } = await send('/slow');
      expect(elapsedMs).toBeLessThan(1_000);
      expect(response.status).toBeUndefined();
      expect(response.error).toBeInstanceOf(Error);
      expect(verdict.kind).toBe('retry');
    });

    it('retries when the connection is reset without an answer', async () => {
      const { response, verdict } = await send('/reset');
      expect(response.status).toBeUndefined();
      expect(response.error).toBeInstanceOf(Error);
      expect(verdict.kind).toBe('retry');
    });

    it('summarises every attempt with a method, a URL and request headers', async () => {
      for (const path of ['/ok', '/500', '/reset']) {
        const { response } = await send(path);
        expect(response.method).toMatch(/^[A-Z]+$/);
        expect(response.url).toMatch(/^[a-z]+:\S+$/);
        expect(response.requestHeaders).toBeTypeOf('object');
      }
    });
  });
}
