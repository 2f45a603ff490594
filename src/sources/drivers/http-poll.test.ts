// The http-poll driver against real HTTP servers on 127.0.0.1: the shared driver
// suite over an in-memory feed (paged by cursor, then by link), then what the
// driver adds: the requests it makes, how `since` moves, retries and
// Retry-After, timeouts, bad answers, bearer and OAuth2 auth, masking, and
// cancellation.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/support/index.js';
import { ConfigError } from '../../errors/index.js';
import { outboundPolicy } from '../../security/outbound-policy.js';
import type { Json } from '../../store/types.js';
import { describeSourceDriverContract } from '../source-driver.contract.js';
import type { PullContext, SourceDriver } from '../source-driver.js';
import { HttpPollError } from './http-poll-error.js';
import { httpPoll, type HttpPollCheckpoint, type HttpPollOptions } from './http-poll.js';

interface Seen {
  path: string;
  /** Path and query, as sent. */
  url: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  at: number;
}

/** What the server does with a request: answer (JSON body, raw text, or nothing at all). */
type Reply = { status?: number; headers?: Record<string, string>; json?: unknown; text?: string; delayMs?: number } | 'hang';

interface Api {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  seen: Seen[];
  /** Open sockets, to see keep-alive connections close. */
  sockets: Set<Socket>;
  close(): Promise<void>;
}

const apis: Api[] = [];
const drivers: { close?: () => Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(drivers.splice(0).map((d) => d.close?.()));
  await Promise.all(apis.splice(0).map((a) => a.close()));
});

async function startApi(answer: (seen: Seen, n: number, origin: string) => Reply): Promise<Api> {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  let origin = '';
  const server = createServer((req, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', origin);
    const request: Seen = { path: url.pathname, url: req.url ?? '/', query: Object.fromEntries(url.searchParams), headers: req.headers, at: Date.now() };
    seen.push(request);
    const reply = answer(request, seen.length, origin);
    if (reply === 'hang') return;
    const timer = setTimeout(() => {
      if (res.destroyed) return;
      const body = reply.text ?? JSON.stringify(reply.json ?? {});
      res.writeHead(reply.status ?? 200, { 'content-type': reply.text === undefined ? 'application/json' : 'text/plain', ...reply.headers });
      res.end(body);
    }, reply.delayMs ?? 0);
    res.on('close', () => clearTimeout(timer));
  });
  // Kept-alive sockets outlive any test unless the client closes them, so a close() that does nothing shows.
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed: Promise<void> | undefined;
  const api: Api = {
    origin,
    seen,
    sockets,
    close: () =>
      (closed ??= new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      })),
  };
  apis.push(api);
  return api;
}

interface Item {
  id: string;
  updatedAt: string;
}

/**
 * An API over an in-memory list, `updatedAt` increasing: `GET /items?since=&cursor=&limit=`
 * answers the items updated after `since`, a page at a time; the cursor is an offset into that
 * list, so it only makes sense with the same `since`. With `link`, `next` is the absolute URL
 * of the next page instead.
 */
function itemFeed(options: { link?: boolean } = {}) {
  const items: Item[] = [];
  const answer = (seen: Seen, _n: number, origin: string): Reply => {
    if (seen.path !== '/items') return { status: 404, json: { error: 'no such path' } };
    const since = seen.query.since;
    const limit = Number(seen.query.limit ?? 5);
    const newer = since === undefined ? items : items.filter((item) => item.updatedAt > since);
    const offset = seen.query.cursor === undefined ? 0 : Number(Buffer.from(seen.query.cursor, 'base64url').toString().slice('offset:'.length));
    const page = newer.slice(offset, offset + limit);
    let next: string | null = null;
    if (offset + limit < newer.length) {
      const cursor = Buffer.from(`offset:${offset + limit}`).toString('base64url');
      const query = new URLSearchParams({ ...(since === undefined ? {} : { since }), cursor, limit: String(limit) });
      next = options.link ? `${origin}/items?${query.toString()}` : cursor;
    }
    return { json: { items: page, next } };
  };
  const append = (count: number) => {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const n = items.length + 1;
      items.push({ id: `item-${n}`, updatedAt: new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString() });
      ids.push(`item-${n}`);
    }
    return ids;
  };
  return { items, answer, append };
}

const silent = pino({ level: 'silent' });
const context = (signal = new AbortController().signal): PullContext => ({ source: 'test', signal, log: silent });

const driver = (options: HttpPollOptions) => {
  const made = httpPoll({ retryDelayMs: 1, ...options });
  drivers.push(made);
  return made;
};

const feedOptions = (api: Api): HttpPollOptions => ({ url: `${api.origin}/items`, limit: 5, sinceOf: (item) => (item as Item).updatedAt });

const failure = async (promise: Promise<unknown>): Promise<HttpPollError> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HttpPollError);
  return error as HttpPollError;
};

for (const link of [false, true]) {
  describeSourceDriverContract(`http-poll (${link ? 'next link' : 'cursor'})`, async () => {
    const feed = itemFeed({ link });
    const api = await startApi(feed.answer);
    const make = (): SourceDriver<unknown, Json> => httpPoll(feedOptions(api));
    const first = make();
    return {
      driver: first,
      pageSize: 5,
      append: async (count) => feed.append(count),
      idOf: (item) => (item as Item).id,
      reopen: async () => make(),
      close: async () => {
        await first.close?.();
        await api.close();
      },
    };
  });
}

describe('paging', () => {
  it('sends the cursor with the since the chain started from, and moves since only when the chain ends', async () => {
    const feed = itemFeed();
    const api = await startApi(feed.answer);
    const source = driver(feedOptions(api));
    feed.append(3);
    const first = await source.pull(null, context());
    expect(first.checkpoint).toEqual({ since: feed.items[2]!.updatedAt, cursor: null });
    expect(first.more).toBe(false);

    feed.append(7);
    const start: HttpPollCheckpoint = JSON.parse(JSON.stringify(first.checkpoint));
    const second = await source.pull(start, context());
    expect(second.items.map((i) => (i as Item).id)).toEqual(['item-4', 'item-5', 'item-6', 'item-7', 'item-8']);
    expect(second.more).toBe(true);
    expect(second.checkpoint).toMatchObject({ since: start.since, highest: feed.items[7]!.updatedAt });
    expect(second.checkpoint.cursor).toEqual(expect.any(String));

    const third = await source.pull(second.checkpoint, context());
    expect(third.items.map((i) => (i as Item).id)).toEqual(['item-9', 'item-10']);
    expect(third.checkpoint).toEqual({ since: feed.items[9]!.updatedAt, cursor: null });
    expect(third.more).toBe(false);

    expect(api.seen.map((s) => s.query)).toEqual([
      { limit: '5' },
      { limit: '5', since: start.since },
      { limit: '5', since: start.since, cursor: second.checkpoint.cursor },
    ]);
  });

  it('follows an absolute next link as is, keeping it as the cursor', async () => {
    const feed = itemFeed({ link: true });
    const api = await startApi(feed.answer);
    const source = driver({ ...feedOptions(api), query: { fields: 'id,updatedAt' } });
    feed.append(7);
    const first = await source.pull(null, context());
    expect(first.more).toBe(true);
    const link = first.checkpoint.cursor!;
    expect(link.startsWith(`${api.origin}/items?`)).toBe(true);
    const second = await source.pull(first.checkpoint, context());
    expect(second.items.map((i) => (i as Item).id)).toEqual(['item-6', 'item-7']);
    expect(api.seen[1]!.url).toBe(link.slice(api.origin.length));
    // The static query goes with the first request only: a link is not added to.
    expect(api.seen[0]!.query.fields).toBe('id,updatedAt');
    expect(api.seen[1]!.query.fields).toBeUndefined();
  });

  it('moves since to the greatest value seen across the chain, whatever order the pages come in', async () => {
    const pages: Record<string, { items: { id: string; at: number }[]; next: string | null }> = {
      start: { items: [{ id: 'c', at: 30 }, { id: 'b', at: 20 }], next: 'p2' },
      p2: { items: [{ id: 'a', at: 10 }], next: null },
    };
    const api = await startApi((seen) => ({ json: pages[seen.query.page ?? 'start'] }));
    const source = driver({ url: `${api.origin}/feed`, cursorParam: 'page', sinceParam: 'updated_after', sinceOf: 'at' });
    const first = await source.pull({ since: 5, cursor: null }, context());
    expect(first.checkpoint).toEqual({ since: 5, cursor: 'p2', highest: 30 });
    const second = await source.pull(first.checkpoint, context());
    expect(second.checkpoint).toEqual({ since: 30, cursor: null });
    expect(api.seen.map((s) => s.query)).toEqual([{ updated_after: '5' }, { updated_after: '5', page: 'p2' }]);
  });

  it('keeps since where it was when no item has a since value, or there is no sinceOf', async () => {
    const api = await startApi(() => ({ json: { items: [{ id: 'x' }], next: null } }));
    const withSinceOf = driver({ url: `${api.origin}/feed`, sinceOf: 'updatedAt' });
    expect((await withSinceOf.pull({ since: '2026-01-01', cursor: null }, context())).checkpoint).toEqual({ since: '2026-01-01', cursor: null });
    const without = driver({ url: `${api.origin}/feed` });
    expect((await without.pull(null, context())).checkpoint).toEqual({ since: null, cursor: null });
  });

  it('reads items and next where the options say, and sends the URL\'s own query, static query, limit and headers', async () => {
    const api = await startApi(() => ({ json: { data: { rows: [{ id: 1 }, { id: 2 }] }, paging: { after: 42 } } }));
    const source = driver({
      url: `${api.origin}/v2/rows?view=all`,
      items: (body) => (body as { data: { rows: unknown[] } }).data.rows,
      next: (body) => (body as { paging: { after: number } }).paging.after,
      query: { archived: false, region: 'eu' },
      limit: 2,
      limitParam: 'page_size',
      headers: { 'x-tenant': 'acme' },
    });
    const page = await source.pull(null, context());
    expect(page.items).toEqual([{ id: 1 }, { id: 2 }]);
    expect(page.checkpoint).toEqual({ since: null, cursor: '42' });
    expect(api.seen[0]!.path).toBe('/v2/rows');
    expect(api.seen[0]!.query).toEqual({ view: 'all', archived: 'false', region: 'eu', page_size: '2' });
    expect(api.seen[0]!.headers['x-tenant']).toBe('acme');
    expect(api.seen[0]!.headers.accept).toBe('application/json');
  });

  it('refuses a next link to another origin, so no credential follows it', async () => {
    const api = await startApi(() => ({ json: { items: [], next: 'http://localhost:1/steal?cursor=2' } }));
    const error = await failure(driver({ url: `${api.origin}/items`, auth: { type: 'bearer', token: 'tok-never-elsewhere' } }).pull(null, context()));
    expect(error.message).toContain('is not on');
    expect(error.message).toContain(api.origin);
  });

  it('refuses a next cursor equal to the one it asked with', async () => {
    const api = await startApi(() => ({ json: { items: [], next: 'same' } }));
    const error = await failure(driver({ url: `${api.origin}/items` }).pull({ since: null, cursor: 'same' }, context()));
    expect(error.message).toMatch(/never end/);
    expect(error.retryable).toBe(false);
  });

  it('rejects a stored checkpoint that is not its own', async () => {
    const api = await startApi(() => ({ json: { items: [] } }));
    const error = await failure(driver({ url: `${api.origin}/items` }).pull({ offset: 3 } as unknown as HttpPollCheckpoint, context()));
    expect(error.message).toContain('not an http-poll checkpoint');
    expect(api.seen).toHaveLength(0);
  });
});

describe('retries', () => {
  it('tries again after 500s and returns the page that finally comes', async () => {
    const api = await startApi((_seen, n) => (n <= 2 ? { status: 500, text: 'boom' } : { json: { items: [{ id: 'ok' }] } }));
    const page = await driver({ url: `${api.origin}/items` }).pull(null, context());
    expect(page.items).toEqual([{ id: 'ok' }]);
    expect(api.seen).toHaveLength(3);
  });

  it('gives up after `retries` more tries, naming the URL, the attempts and the status', async () => {
    const api = await startApi(() => ({ status: 503, text: 'down for maintenance' }));
    const error = await failure(driver({ url: `${api.origin}/items`, retries: 2 }).pull(null, context()));
    expect(api.seen).toHaveLength(3);
    expect(error.message).toBe(`GET ${api.origin}/items failed after 3 attempts: HTTP 503: down for maintenance`);
    expect(error.retryable).toBe(true);
    expect(error.details).toMatchObject({ status: 503, attempts: 3 });
  });

  it('retries 408 and 429 too', async () => {
    const api = await startApi((_seen, n) => (n === 1 ? { status: 408 } : n === 2 ? { status: 429 } : { json: { items: [] } }));
    await driver({ url: `${api.origin}/items` }).pull(null, context());
    expect(api.seen).toHaveLength(3);
  });

  it('waits as long as Retry-After says on a 429', async () => {
    const api = await startApi((_seen, n) => (n === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { json: { items: [] } }));
    await driver({ url: `${api.origin}/items`, retryDelayMs: 1 }).pull(null, context());
    expect(api.seen).toHaveLength(2);
    expect(api.seen[1]!.at - api.seen[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('fails at once when Retry-After asks for longer than maxRetryAfterMs', async () => {
    const api = await startApi(() => ({ status: 503, headers: { 'retry-after': '3600' } }));
    const error = await failure(driver({ url: `${api.origin}/items`, maxRetryAfterMs: 5_000 }).pull(null, context()));
    expect(api.seen).toHaveLength(1);
    expect(error.message).toContain('asked to wait 3600000 ms');
    expect(error.retryable).toBe(true);
  });

  it.each([400, 403, 404, 410])('does not retry HTTP %i, and says which URL answered it', async (status) => {
    const api = await startApi(() => ({ status, json: { error: 'unknown field "sincee"' } }));
    const error = await failure(driver({ url: `${api.origin}/items` }).pull({ since: '2026-01-01T00:00:00.000Z', cursor: null }, context()));
    expect(api.seen).toHaveLength(1);
    expect(error.message).toBe(`GET ${api.origin}/items?since=2026-01-01T00%3A00%3A00.000Z answered HTTP ${status}: {"error":"unknown field \\"sincee\\""}`);
    expect(error.retryable).toBe(false);
    expect(error.details).toMatchObject({ status, url: `${api.origin}/items?since=2026-01-01T00%3A00%3A00.000Z` });
  });

  it('cuts a long error body to its start', async () => {
    const api = await startApi(() => ({ status: 400, text: `bad request ${'x'.repeat(5000)}` }));
    const error = await failure(driver({ url: `${api.origin}/items` }).pull(null, context()));
    expect(error.message.length).toBeLessThan(400);
    expect(error.message).toMatch(/HTTP 400: bad request x+…$/);
  });

  it('times out a slow answer, retries, then fails naming the timeout', async () => {
    const api = await startApi(() => ({ json: { items: [] }, delayMs: 2_000 }));
    const error = await failure(driver({ url: `${api.origin}/items`, timeoutMs: 50, retries: 1 }).pull(null, context()));
    expect(api.seen).toHaveLength(2);
    expect(error.message).toBe(`GET ${api.origin}/items failed after 2 attempts: no answer within 50 ms`);
  });

  it('retries a refused connection, then fails naming it', async () => {
    const api = await startApi(() => ({ json: {} }));
    await api.close();
    const error = await failure(driver({ url: `${api.origin}/items`, retries: 1 }).pull(null, context()));
    expect(error.message).toMatch(new RegExp(`^GET ${api.origin}/items failed after 2 attempts: .*ECONNREFUSED`));
  });
});

describe('bad answers', () => {
  it('fails at once, without retrying, on an answer larger than maxBodyBytes, announced or streamed', async () => {
    const big = JSON.stringify({ items: [{ note: 'x'.repeat(70_000) }], next: null });
    const announced = await startApi(() => ({ text: big, headers: { 'content-length': String(Buffer.byteLength(big)) } }));
    const streamed = await startApi(() => ({ text: big }));
    for (const api of [announced, streamed]) {
      const error = await failure(driver({ url: `${api.origin}/items`, maxBodyBytes: 65_536, retries: 2 }).pull(null, context()));
      expect(api.seen).toHaveLength(1);
      expect(error.retryable).toBe(false);
      expect(error.message).toBe(`GET ${api.origin}/items failed: the answer is larger than maxBodyBytes (65536 bytes); ask for smaller pages with limit, or raise maxBodyBytes`);
    }
    // The same page under the limit is read.
    const page = await driver({ url: `${streamed.origin}/items`, maxBodyBytes: 100_000 }).pull(null, context());
    expect(page.items).toHaveLength(1);
    // Below 64 KiB would also cut OAuth2 token answers, which share the pool.
    expect(() => driver({ url: `${streamed.origin}/items`, maxBodyBytes: 1024 })).toThrow(/maxBodyBytes/);
  });

  it('fails on a body that is not JSON, showing its start', async () => {
    const api = await startApi(() => ({ text: '<html><body>Login required</body></html>' }));
    const error = await failure(driver({ url: `${api.origin}/items` }).pull(null, context()));
    expect(error.message).toBe(`GET ${api.origin}/items answered HTTP 200 with a body that is not JSON: <html><body>Login required</body></html>`);
    expect(api.seen).toHaveLength(1);
  });

  it('fails on a page without an items array', async () => {
    const api = await startApi(() => ({ json: { data: [] } }));
    const error = await failure(driver({ url: `${api.origin}/items` }).pull(null, context()));
    expect(error.message).toBe(`GET ${api.origin}/items answered a page without an items array (body.items is undefined)`);
    const custom = await failure(driver({ url: `${api.origin}/items`, items: () => null }).pull(null, context()));
    expect(custom.message).toContain('(items(body) is null)');
  });

  it('fails on a next that is neither a cursor nor a link', async () => {
    const api = await startApi(() => ({ json: { items: [], next: { page: 2 } } }));
    const error = await failure(driver({ url: `${api.origin}/items` }).pull(null, context()));
    expect(error.message).toContain('body.next is object, not a cursor or a link');
  });
});

describe('auth and secrets', () => {
  it('sends a bearer token', async () => {
    const api = await startApi(() => ({ json: { items: [] } }));
    await driver({ url: `${api.origin}/items`, auth: { type: 'bearer', token: 'static-token-123' } }).pull(null, context());
    expect(api.seen[0]!.headers.authorization).toBe('Bearer static-token-123');
  });

  it('OAuth2 client credentials: fetches a token, and on a 401 fetches a new one and asks once more', async () => {
    let issued = 0;
    const tokens = await startApi((seen) => {
      if (seen.path !== '/oauth/token') return { status: 404 };
      issued += 1;
      return { json: { access_token: `tok-${issued}`, token_type: 'Bearer', expires_in: 3600 } };
    });
    // The API has revoked tok-1 early; only tok-2 opens it.
    const api = await startApi((seen) => (seen.headers.authorization === 'Bearer tok-2' ? { json: { items: [{ id: 1 }] } } : { status: 401, json: { error: 'invalid_token' } }));
    const source = driver({
      url: `${api.origin}/items`,
      auth: { type: 'oauth2', grant: 'client_credentials', tokenUrl: `${tokens.origin}/oauth/token`, clientId: 'confluo', clientSecret: 'cs-very-secret-1' },
    });
    expect((await source.pull(null, context())).items).toEqual([{ id: 1 }]);
    expect(api.seen.map((s) => s.headers.authorization)).toEqual(['Bearer tok-1', 'Bearer tok-2']);
    expect(issued).toBe(2);
    // The new token is kept for the next pull.
    await source.pull(null, context());
    expect(issued).toBe(2);
    expect(source.secrets?.()).toEqual(['cs-very-secret-1']);
  });

  it('OAuth2: a second 401 in a row is an error, not a loop, and the fetched token is masked in it', async () => {
    const tokens = await startApi(() => ({ json: { access_token: 'tok-fetched-abcdef', expires_in: 3600 } }));
    const api = await startApi((seen) => ({ status: 401, text: `rejected ${String(seen.headers.authorization)}` }));
    const source = driver({
      url: `${api.origin}/items`,
      auth: { type: 'oauth2', grant: 'client_credentials', tokenUrl: `${tokens.origin}/oauth/token`, clientId: 'confluo', clientSecret: 'cs-very-secret-1' },
    });
    const error = await failure(source.pull(null, context()));
    expect(api.seen).toHaveLength(2);
    expect(tokens.seen).toHaveLength(2);
    expect(error.message).toBe(`GET ${api.origin}/items answered HTTP 401: rejected Bearer ****`);
  });

  it('OAuth2: a token endpoint that rejects the client fails the pull at once, naming the source URL', async () => {
    const tokens = await startApi(() => ({ status: 401, json: { error: 'invalid_client' } }));
    const api = await startApi(() => ({ json: { items: [] } }));
    const source = driver({
      url: `${api.origin}/items`,
      auth: { type: 'oauth2', grant: 'client_credentials', tokenUrl: `${tokens.origin}/oauth/token`, clientId: 'confluo', clientSecret: 'cs-very-secret-1' },
    });
    const error = await failure(source.pull(null, context()));
    expect(error.message).toMatch(new RegExp(`^GET ${api.origin}/items failed: token request to .* failed: HTTP 401 \\(invalid_client\\)$`));
    expect(error.message).not.toContain('cs-very-secret-1');
    expect(tokens.seen).toHaveLength(1);
    expect(api.seen).toHaveLength(0);
  });

  it('masks every credential in its errors and lists them in secrets()', async () => {
    const api = await startApi((seen) => ({ status: 403, text: `denied: ${JSON.stringify(seen.headers)} ${seen.url}` }));
    const source = driver({
      url: `${api.origin}/items?api_key=qk-SECRET-0987`,
      auth: { type: 'bearer', token: 'tok-SECRET-12345' },
      headers: { 'x-api-key': 'hk-SECRET-5555', 'x-tenant': 'acme' },
      query: { access_token: 'at-SECRET-777', region: 'eu' },
    });
    const error = await failure(source.pull(null, context()));
    expect(api.seen[0]!.headers.authorization).toBe('Bearer tok-SECRET-12345');
    expect(error.message).not.toMatch(/SECRET/);
    expect(error.message).toContain('acme');
    expect(error.message).toContain(`GET ${api.origin}/items?api_key=****&access_token=****&region=eu answered HTTP 403`);
    expect(JSON.stringify(error.details)).not.toMatch(/SECRET/);
    expect(new Set(source.secrets?.())).toEqual(new Set(['tok-SECRET-12345', 'hk-SECRET-5555', 'qk-SECRET-0987', 'at-SECRET-777']));
  });

  it('sends a password in the URL as HTTP Basic, and never shows it', async () => {
    const api = await startApi((seen) => ({ status: 500, text: `echo ${String(seen.headers.authorization)}` }));
    const url = `${api.origin.replace('//', '//svc:pa%24%24-SECRET-word@')}/items`;
    const source = driver({ url, retries: 0 });
    const error = await failure(source.pull(null, context()));
    const basic = Buffer.from('svc:pa$$-SECRET-word').toString('base64');
    expect(api.seen[0]!.headers.authorization).toBe(`Basic ${basic}`);
    expect(error.message).toBe(`GET ${api.origin}/items failed after 1 attempt: HTTP 500: echo Basic ****`);
    expect(source.secrets?.()).toEqual(['pa$$-SECRET-word', basic]);
  });
});

describe('outbound policy', () => {
  it('fails the pull at once, not retried, when the policy refuses the API, by address or by what its name resolves to', async () => {
    const api = await startApi(() => ({ json: { items: [] } }));
    const byName = api.origin.replace('127.0.0.1', 'localhost');
    for (const url of [`${api.origin}/items`, `${byName}/items`]) {
      const error = await failure(driver({ url, retries: 3, outbound: { allowLoopback: false } }).pull(null, context()));
      expect(error.retryable).toBe(false);
      expect(error.details.attempts).toBe(1);
      expect(error.message).toMatch(/^GET \S+ failed: refused to connect to (127.0.0.1|localhost \((127.0.0.1|::1)\)): it is a loopback address and outbound.allowLoopback is false$/);
    }
    expect(api.seen).toHaveLength(0);
  });

  it('takes the hub\'s policy when it has none of its own, and keeps its own otherwise', async () => {
    const api = await startApi(() => ({ json: { items: [] } }));
    const plain = driver({ url: `${api.origin}/items` });
    const own = driver({ url: `${api.origin}/items`, outbound: { allowHosts: ['127.0.0.1'] } });
    for (const source of [plain, own]) source.useOutbound?.(outboundPolicy({ allowLoopback: false }));
    expect((await failure(plain.pull(null, context()))).message).toMatch(/refused to connect to 127.0.0.1/);
    expect((await own.pull(null, context())).items).toEqual([]);
  });

  it('sends the OAuth2 token request through the policy too', async () => {
    const tokens = await startApi(() => ({ json: { access_token: 'tok_fetched' } }));
    const api = await startApi(() => ({ json: { items: [] } }));
    const source = driver({
      url: `${api.origin}/items`,
      auth: { type: 'oauth2', grant: 'client_credentials', tokenUrl: `${tokens.origin.replace('127.0.0.1', 'localhost')}/token`, clientId: 'confluo', clientSecret: 'cs-very-secret-1' },
      outbound: { denyHosts: ['localhost'] },
    });
    const error = await failure(source.pull(null, context()));
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/failed: token request to .* failed: refused to connect to localhost \(.*\): it is listed in outbound.denyHosts$/);
    expect(tokens.seen).toHaveLength(0);
    expect(api.seen).toHaveLength(0);
  });

  it('names a bad outbound option', () => {
    expect(() => httpPoll({ url: 'http://127.0.0.1/items', outbound: { denyHosts: ['not a host'] } })).toThrow(/outbound.denyHosts.0: must be a host name/);
  });
});

describe('cancellation and closing', () => {
  it('aborts a request in flight when the run is cancelled', { timeout: 5_000 }, async () => {
    const api = await startApi(() => 'hang');
    const controller = new AbortController();
    const pulling = driver({ url: `${api.origin}/items` }).pull(null, context(controller.signal));
    await eventually(() => api.seen.length === 1, 4_000, 'the request to reach the API');
    controller.abort(new Error('hub closing'));
    const error = await failure(pulling);
    expect(error.message).toBe(`GET ${api.origin}/items cancelled`);
    expect(api.seen).toHaveLength(1);
  });

  it('stops waiting for a retry when the run is cancelled', { timeout: 5_000 }, async () => {
    const api = await startApi(() => ({ status: 500 }));
    const controller = new AbortController();
    const pulling = driver({ url: `${api.origin}/items`, retryDelayMs: 60_000 }).pull(null, context(controller.signal));
    await eventually(() => api.seen.length === 1, 4_000, 'the request to reach the API');
    controller.abort();
    expect((await failure(pulling)).message).toContain('cancelled');
    expect(api.seen).toHaveLength(1);
  });

  it('close() closes its keep-alive connections', { timeout: 5_000 }, async () => {
    const api = await startApi(() => ({ json: { items: [] } }));
    const source = httpPoll({ url: `${api.origin}/items` });
    await source.pull(null, context());
    expect(api.sockets.size).toBeGreaterThan(0);
    await source.close?.();
    await eventually(() => api.sockets.size === 0, 4_000, 'the sockets to close');
    expect((await failure(source.pull(null, context()))).message).toBe(`GET ${api.origin}/items: the driver is closed`);
  });
});

describe('options', () => {
  it('throws a ConfigError naming each bad option, without secret values', () => {
    const bad = {
      url: 'ftp://files.example.com/x',
      retries: -1,
      timeoutMs: 0,
      items: 'items',
      auth: { type: 'bearer', token: '' },
      extra: true,
    } as unknown as HttpPollOptions;
    let error: unknown;
    try {
      httpPoll(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(/^invalid http-poll source options: /);
    for (const field of ['url', 'retries', 'timeoutMs', 'items', 'auth.token']) expect(message).toContain(`${field}:`);
    expect(message).toContain('extra');
  });

  it('refuses credentials both in the URL and in auth', () => {
    expect(() => httpPoll({ url: 'https://u:p@api.example.com/items', auth: { type: 'bearer', token: 'abc' } })).toThrow(ConfigError);
  });

  it('is kind http-poll', () => {
    expect(driver({ url: 'https://api.example.com/items' }).kind).toBe('http-poll');
  });
});
