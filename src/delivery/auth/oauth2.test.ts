// The OAuth2 token provider against a real token endpoint on 127.0.0.1: what it
// sends for each grant and credential placement, how long it keeps a token,
// and how the endpoint's failures become AuthErrors that leak no secret.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createAuthenticator, type AuthOptions, type AuthenticatorDeps } from './auth.js';
import { AuthError } from './auth-error.js';

interface Received {
  method: string | undefined;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: string;
  form: Record<string, string>;
}

interface TokenServer {
  /** The token endpoint, `http://127.0.0.1:<port>/oauth/token`. */
  url: string;
  received: Received[];
  close: () => Promise<void>;
}

type Answer = (res: ServerResponse, requestNumber: number) => void;

const servers: TokenServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function startTokenServer(answer: Answer): Promise<TokenServer> {
  const received: Received[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://localhost');
      received.push({
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body,
        form: Object.fromEntries(new URLSearchParams(body)),
      });
      answer(res, received.length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const tokenServer: TokenServer = {
    url: `http://127.0.0.1:${port}/oauth/token`,
    received,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
  servers.push(tokenServer);
  return tokenServer;
}

const json =
  (status: number, body: unknown, delayMs = 0): Answer =>
  (res) => {
    setTimeout(() => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    }, delayMs);
  };

/** Answers request n with token `tok-n`. */
const tokens =
  (extra: Record<string, unknown> = { expires_in: 3600 }, delayMs = 0): Answer =>
  (res, n) =>
    json(200, { access_token: `tok-${n}`, token_type: 'Bearer', ...extra }, delayMs)(res, n);

const SECRET = 'cs-Very$ecret/Value+1';
const PASSWORD = 'pw-Hunter2&more';

const clientCredentials = (tokenUrl: string, extra: Partial<Extract<AuthOptions, { grant: 'client_credentials' }>> = {}): AuthOptions => ({
  type: 'oauth2',
  grant: 'client_credentials',
  tokenUrl,
  clientId: 'confluo-sink',
  clientSecret: SECRET,
  ...extra,
});

const passwordGrant = (tokenUrl: string, extra: Partial<Extract<AuthOptions, { grant: 'password' }>> = {}): AuthOptions => ({
  type: 'oauth2',
  grant: 'password',
  tokenUrl,
  clientId: '3MVG9-client',
  clientSecret: SECRET,
  username: 'integration@example.com',
  password: PASSWORD,
  ...extra,
});

/** A clock the test moves by hand. */
const manualClock = () => {
  const clock = { now: 0, read: () => clock.now };
  return clock;
};

const authError = async (promise: Promise<unknown>): Promise<AuthError> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthError);
  return error as AuthError;
};

describe('what the token request carries', () => {
  it('client credentials in the body: a form POST with grant, id, secret, scope and audience', async () => {
    const server = await startTokenServer(tokens());
    const auth = createAuthenticator(clientCredentials(server.url, { scope: 'customers:write', audience: 'https://api.example.com' }));

    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-1' });
    const [req] = server.received;
    expect(req!.method).toBe('POST');
    expect(req!.path).toBe('/oauth/token');
    expect(req!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req!.headers.authorization).toBeUndefined();
    expect(req!.form).toEqual({
      grant_type: 'client_credentials',
      client_id: 'confluo-sink',
      client_secret: SECRET,
      scope: 'customers:write',
      audience: 'https://api.example.com',
    });
  });

  it('client credentials in the header: HTTP Basic of the form-encoded id and secret, neither in the body', async () => {
    const server = await startTokenServer(tokens());
    const auth = createAuthenticator(clientCredentials(server.url, { clientId: 'my client', clientSecret: 's3cr:t/+x', credentialsIn: 'header' }));

    await auth.headers();
    const [req] = server.received;
    expect(req!.headers.authorization).toBe(`Basic ${Buffer.from('my+client:s3cr%3At%2F%2Bx').toString('base64')}`);
    expect(req!.form).toEqual({ grant_type: 'client_credentials' });
  });

  it('password grant in the body: grant, id, secret, username, password and scope as form fields', async () => {
    const server = await startTokenServer(tokens());
    await createAuthenticator(passwordGrant(server.url, { scope: 'api' })).headers();

    const [req] = server.received;
    expect(req!.query).toEqual({});
    expect(req!.form).toEqual({
      grant_type: 'password',
      client_id: '3MVG9-client',
      client_secret: SECRET,
      username: 'integration@example.com',
      password: PASSWORD,
      scope: 'api',
    });
  });

  it('password grant with the client in the header: Basic for the client, the user in the body', async () => {
    const server = await startTokenServer(tokens());
    await createAuthenticator(passwordGrant(server.url, { credentialsIn: 'header' })).headers();

    const [req] = server.received;
    expect(req!.headers.authorization).toBe(`Basic ${Buffer.from(`3MVG9-client:${new URLSearchParams({ s: SECRET }).toString().slice(2)}`).toString('base64')}`);
    expect(req!.form).toEqual({ grant_type: 'password', username: 'integration@example.com', password: PASSWORD });
  });

  it('password grant in the query (centraal/Salesforce style): every field in the URL, existing parameters kept, empty body', async () => {
    const server = await startTokenServer(
      json(200, {
        access_token: '00Dxx0000001gPL!AR8AQJXg',
        instance_url: 'https://acme.my.salesforce.com',
        id: 'https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001Sv6AAAS',
        token_type: 'Bearer',
        issued_at: '1278448832702',
        signature: '0CmxinZir53Yex7nE0TD+zMpvIWYGb/bdJh6XfOH6EQ=',
      }),
    );
    const auth = createAuthenticator(passwordGrant(`${server.url}?tenant=acme`, { credentialsIn: 'query' }));

    expect(await auth.headers()).toEqual({ authorization: 'Bearer 00Dxx0000001gPL!AR8AQJXg' });
    const [req] = server.received;
    expect(req!.body).toBe('');
    expect(req!.headers.authorization).toBeUndefined();
    expect(req!.query).toEqual({
      tenant: 'acme',
      grant_type: 'password',
      client_id: '3MVG9-client',
      client_secret: SECRET,
      username: 'integration@example.com',
      password: PASSWORD,
    });
  });
});

describe('what the token answer becomes', () => {
  it.each([
    ['bearer', 'Bearer'],
    ['BEARER', 'Bearer'],
    [undefined, 'Bearer'],
    ['DPoP', 'DPoP'],
  ])('token_type %s is sent as %s', async (tokenType, scheme) => {
    const server = await startTokenServer(json(200, { access_token: 'abc', ...(tokenType === undefined ? {} : { token_type: tokenType }) }));
    expect(await createAuthenticator(clientCredentials(server.url)).headers()).toEqual({ authorization: `${scheme} abc` });
  });

  it('accepts expires_in as a numeric string', async () => {
    const clock = manualClock();
    const server = await startTokenServer(tokens({ expires_in: '3600' }));
    const auth = createAuthenticator(clientCredentials(server.url), { clock: clock.read });
    await auth.headers();
    clock.now = 3_569_999;
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-1' });
    clock.now = 3_570_000;
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-2' });
  });
});

describe('token caching', () => {
  it('two calls make one token request', async () => {
    const server = await startTokenServer(tokens());
    const auth = createAuthenticator(clientCredentials(server.url));
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-1' });
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-1' });
    expect(server.received).toHaveLength(1);
  });

  it('renews the token once expires_in minus the 30 s skew has passed', async () => {
    const clock = manualClock();
    const server = await startTokenServer(tokens({ expires_in: 3600 }));
    const auth = createAuthenticator(clientCredentials(server.url), { clock: clock.read });

    await auth.headers();
    clock.now = 3_569_999;
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-1' });
    clock.now = 3_570_000;
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-2' });
    expect(server.received).toHaveLength(2);
  });

  it('honours a custom skew', async () => {
    const clock = manualClock();
    const server = await startTokenServer(tokens({ expires_in: 60 }));
    const auth = createAuthenticator(clientCredentials(server.url), { clock: clock.read, skewMs: 5_000 });
    await auth.headers();
    clock.now = 54_999;
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-1' });
    clock.now = 55_000;
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-2' });
  });

  it('keeps a token without expires_in for 5 minutes by default, or for defaultTtlMs', async () => {
    const clock = manualClock();
    const server = await startTokenServer(tokens({}));
    const auth = createAuthenticator(clientCredentials(server.url), { clock: clock.read });
    await auth.headers();
    clock.now = 299_999;
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-1' });
    clock.now = 300_000;
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-2' });

    const short = createAuthenticator(clientCredentials(server.url), { clock: clock.read, defaultTtlMs: 1_000 });
    await short.headers();
    clock.now = 300_999;
    expect(await short.headers()).toEqual({ authorization: 'Bearer tok-3' });
    clock.now = 301_000;
    expect(await short.headers()).toEqual({ authorization: 'Bearer tok-4' });
  });

  it('uses a token that lives less than the skew for half its life instead of fetching on every call', async () => {
    const clock = manualClock();
    const server = await startTokenServer(tokens({ expires_in: 20 }));
    const auth = createAuthenticator(clientCredentials(server.url), { clock: clock.read });
    await auth.headers();
    clock.now = 9_999;
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-1' });
    clock.now = 10_000;
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-2' });
  });

  it('counts the lifetime from when the request was sent, not when the answer came', async () => {
    const clock = manualClock();
    const server = await startTokenServer((res, n) => {
      clock.now = 10_000; // the answer takes 10 s to arrive
      tokens({ expires_in: 60 })(res, n);
    });
    const auth = createAuthenticator(clientCredentials(server.url), { clock: clock.read });
    await auth.headers();
    clock.now = 29_999;
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-1' });
    clock.now = 30_000;
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-2' });
  });

  it('10 concurrent calls share one token request', async () => {
    const server = await startTokenServer(tokens({ expires_in: 3600 }, 50));
    const auth = createAuthenticator(clientCredentials(server.url));
    const all = await Promise.all(Array.from({ length: 10 }, () => auth.headers()));
    expect(all).toEqual(Array.from({ length: 10 }, () => ({ authorization: 'Bearer tok-1' })));
    expect(server.received).toHaveLength(1);
  });

  it('a failed shared request fails every waiter once, and the next call asks again', async () => {
    const server = await startTokenServer((res, n) => (n === 1 ? json(503, { error: 'temporarily_unavailable' }, 50)(res, n) : tokens()(res, n)));
    const auth = createAuthenticator(clientCredentials(server.url));
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => auth.headers()));
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof AuthError)).toBe(true);
    expect(server.received).toHaveLength(1);

    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-2' });
    expect(server.received).toHaveLength(2);
  });

  it('invalidate() makes the next call fetch a new token', async () => {
    const server = await startTokenServer(tokens());
    const auth = createAuthenticator(clientCredentials(server.url));
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-1' });
    auth.invalidate();
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-2' });
    expect(await auth.headers()).toEqual({ authorization: 'Bearer tok-2' });
    expect(server.received).toHaveLength(2);
  });
});

describe('token endpoint failures', () => {
  it('401 is a non-retryable AUTH_FAILED naming the URL and status, with no secret, password or token in it', async () => {
    // The server echoes the password back, as some do; the query-mode URL carries every secret.
    const server = await startTokenServer(json(401, { error: 'invalid_grant', error_description: `authentication failure for password ${PASSWORD}` }));
    const auth = createAuthenticator(passwordGrant(server.url, { credentialsIn: 'query' }));

    const error = await authError(auth.headers());
    expect(error.code).toBe('AUTH_FAILED');
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(`token request to ${server.url} failed: HTTP 401 (invalid_grant: authentication failure for password ****)`);
    expect(error.details).toEqual({ tokenUrl: server.url, status: 401 });
    const everything = JSON.stringify({ message: error.message, details: error.details });
    for (const secret of [SECRET, PASSWORD, encodeURIComponent(SECRET), encodeURIComponent(PASSWORD)]) expect(everything).not.toContain(secret);
  });

  it('masks a secret carried in the configured token URL itself', async () => {
    const server = await startTokenServer(json(400, { error: 'invalid_request' }));
    const error = await authError(createAuthenticator(clientCredentials(`${server.url}?api_key=k-123456`)).headers());
    expect(error.message).toBe(`token request to ${server.url}?api_key=**** failed: HTTP 400 (invalid_request)`);
  });

  it.each([
    [400, false],
    [401, false],
    [403, false],
    [408, true],
    [429, true],
    [500, true],
    [503, true],
  ])('HTTP %i is retryable: %s', async (status, retryable) => {
    const server = await startTokenServer((res) => {
      res.writeHead(status, { 'content-type': 'text/html' });
      res.end(`<html>${SECRET}</html>`);
    });
    const error = await authError(createAuthenticator(clientCredentials(server.url)).headers());
    expect(error.retryable).toBe(retryable);
    expect(error.message).toBe(`token request to ${server.url} failed: HTTP ${status}`);
  });

  it.each([
    ['a body that is not JSON', 'text/html', '<html>Sign in</html>', 'body'],
    ['JSON without access_token', 'application/json', JSON.stringify({ token_type: 'Bearer', expires_in: 3600 }), 'access_token'],
    ['a token that would break the header', 'application/json', JSON.stringify({ access_token: 'abc\r\nX-Injected: 1' }), 'access_token'],
  ])('200 with %s is a non-retryable AuthError', async (_, contentType, body, field) => {
    const server = await startTokenServer((res) => {
      res.writeHead(200, { 'content-type': contentType });
      res.end(body);
    });
    const error = await authError(createAuthenticator(clientCredentials(server.url)).headers());
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(`token request to ${server.url} returned HTTP 200 without a usable token (${field})`);
  });

  it('a token endpoint that never answers times out as a retryable AuthError', async () => {
    const server = await startTokenServer(() => {});
    const started = Date.now();
    const error = await authError(createAuthenticator(clientCredentials(server.url), { timeoutMs: 100 }).headers());
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(`token request to ${server.url} timed out after 100 ms`);
    expect(error.cause).toBeDefined();
  });

  it('a refused connection is a retryable AuthError', async () => {
    const server = await startTokenServer(tokens());
    await servers.pop()!.close();
    const deps: AuthenticatorDeps = { timeoutMs: 2_000 };
    const error = await authError(createAuthenticator(clientCredentials(server.url), deps).headers());
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(new RegExp(`^token request to ${server.url.replace(/[.?]/g, '\\$&')} failed: `));
    expect(error.message).not.toContain(SECRET);
  });
});

describe('token answer bounds', () => {
  const TOKEN_CHARS = 8192;

  it('stops reading an answer that streams past 64 KiB, and fails at once, not retryable', async () => {
    let written = 0;
    let closed = false;
    const server = await startTokenServer((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"access_token":"');
      const chunk = 'a'.repeat(64 * 1024);
      const more = () => {
        while (!res.destroyed && res.write(chunk)) written += chunk.length;
      };
      res.on('drain', more);
      res.on('close', () => (closed = true));
      more();
    });
    const started = Date.now();
    const error = await authError(createAuthenticator(clientCredentials(server.url), { timeoutMs: 5_000 }).headers());
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(`token request to ${server.url} failed: the answer is larger than maxResponseBytes (65536 bytes)`);
    await expect.poll(() => closed).toBe(true);
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it('refuses an answer whose Content-Length passes the limit without reading it', async () => {
    const server = await startTokenServer(json(200, { access_token: 'a'.repeat(1024 * 1024) }));
    const error = await authError(createAuthenticator(clientCredentials(server.url)).headers());
    expect(error.message).toMatch(/larger than maxResponseBytes \(65536 bytes\)$/);
  });

  it('bounds error answers the same way', async () => {
    const server = await startTokenServer(json(500, { error: 'e'.repeat(1024 * 1024) }));
    const error = await authError(createAuthenticator(clientCredentials(server.url)).headers());
    expect(error.message).toMatch(/larger than maxResponseBytes/);
  });

  it(`refuses a token longer than ${TOKEN_CHARS} characters, which no receiver takes as a header`, async () => {
    const server = await startTokenServer(json(200, { access_token: 'a'.repeat(TOKEN_CHARS + 1) }));
    const error = await authError(createAuthenticator(clientCredentials(server.url)).headers());
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(`token request to ${server.url} returned HTTP 200 without a usable token (access_token: longer than ${TOKEN_CHARS} characters)`);
    const fits = await startTokenServer(json(200, { access_token: 'a'.repeat(TOKEN_CHARS) }));
    expect((await createAuthenticator(clientCredentials(fits.url)).headers()).authorization).toHaveLength('Bearer '.length + TOKEN_CHARS);
  });

  it('takes its limit from maxResponseBytes', async () => {
    const server = await startTokenServer(json(200, { access_token: 'a'.repeat(4000) }));
    const error = await authError(createAuthenticator(clientCredentials(server.url, { maxResponseBytes: 2048 })).headers());
    expect(error.message).toMatch(/larger than maxResponseBytes \(2048 bytes\)$/);
    expect((await createAuthenticator(clientCredentials(server.url)).headers()).authorization).toMatch(/^Bearer a{4000}$/);
  });
});
