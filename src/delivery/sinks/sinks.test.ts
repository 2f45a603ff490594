// Every sink driver runs the Sink contract; below it, what each driver adds:
// Standard Webhooks signing, URL templates, auth and masking for REST, the
// masked webhook path for Slack, and the error semantics of function sinks.
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NonRetryableError, RetryAfterError } from '../../errors/index.js';
import { outboundPolicy } from '../../security/outbound-policy.js';
import { OutboundRefusedError } from '../../security/outbound-refused-error.js';
import { maskText } from '../auth/index.js';
import { classify } from '../outcome.js';
import { contractContext, describeSinkContract, startReceiver, type ReceivedRequest, type Receiver } from '../sink.contract.js';
import { functionSink } from './function-sink.js';
import { restSink } from './rest-sink.js';
import { slackSink } from './slack-sink.js';

describeSinkContract('rest', (url) => restSink({ url }));
describeSinkContract('slack', (url) => slackSink({ webhookUrl: url }));
describeSinkContract('function', (url) =>
  functionSink(async (delivery, ctx) => {
    const r = await request(url, {
      method: 'POST',
      body: JSON.stringify(delivery.body),
      headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(ctx.timeoutMs),
    });
    return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
  }),
);

const body = { customer: 'CC-1', name: 'Ana' };

const webhookHeaders = (got: ReceivedRequest): Record<string, string> => ({
  'webhook-id': String(got.headers['webhook-id']),
  'webhook-timestamp': String(got.headers['webhook-timestamp']),
  'webhook-signature': String(got.headers['webhook-signature']),
});

describe('restSink', () => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });
  const last = () => receiver.received.at(-1)!;

  it('signs with Standard Webhooks headers the receiver can verify, webhook-id being the delivery id', async () => {
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const sink = restSink({ url: `${receiver.url}/echo`, secret });
    const response = await sink.send({ body }, contractContext({ deliveryId: 'msg_signed' }));
    expect(classify(response, Date.now())).toEqual({ kind: 'success' });
    const got = last();
    expect(got.headers['webhook-id']).toBe('msg_signed');
    expect(Number(got.headers['webhook-timestamp'])).toBeCloseTo(Date.now() / 1000, -1);
    expect(got.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(got.body, webhookHeaders(got))).toEqual(body);
  });

  it('sends the same webhook-id, freshly signed, when the same delivery is sent again', async () => {
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const sink = restSink({ url: `${receiver.url}/echo`, secret });
    await sink.send({ body }, contractContext({ deliveryId: 'msg_again', attempt: 1 }));
    const first = last();
    await sink.send({ body }, contractContext({ deliveryId: 'msg_again', attempt: 2 }));
    const second = last();
    expect(second).not.toBe(first);
    expect(second.headers['webhook-id']).toBe('msg_again');
    expect(first.headers['webhook-id']).toBe('msg_again');
    expect(new Webhook(secret).verify(second.body, webhookHeaders(second))).toEqual(body);
  });

  it('rejects a signature made with another secret (the check above can fail)', async () => {
    const sink = restSink({ url: `${receiver.url}/echo`, secret: `whsec_${randomBytes(24).toString('base64')}` });
    await sink.send({ body }, contractContext());
    const got = last();
    expect(() => new Webhook(`whsec_${randomBytes(24).toString('base64')}`).verify(got.body, webhookHeaders(got))).toThrow(/signature/i);
  });

  it('sends no webhook headers without a secret', async () => {
    await restSink({ url: `${receiver.url}/echo` }).send({ body }, contractContext());
    expect(Object.keys(last().headers).filter((h) => h.startsWith('webhook-'))).toEqual([]);
  });

  it('expands {key} and the other placeholders URL-encoded', async () => {
    const sink = restSink({ url: `${receiver.url}/echo/{integration}/{entity}/{key}?event={eventId}` });
    const response = await sink.send({ body }, contractContext({ key: 'A B/1', eventId: 'e#1' }));
    expect(last().path).toBe('/echo/contract/customer/A%20B%2F1?event=e%231');
    expect(response.url).toBe(`${receiver.url}/echo/contract/customer/A%20B%2F1?event=e%231`);
  });

  it('sends to `/` for a URL without a path, and resolves the template\'s own dot segments, logging each URL as sent', async () => {
    const bare = await restSink({ url: receiver.url }).send({ body }, contractContext());
    expect(last().path).toBe('/');
    expect(bare.url).toBe(`${receiver.url}/`);
    const dotted = await restSink({ url: `${receiver.url}/skip/../echo/{key}` }).send({ body }, contractContext({ key: 'K 1' }));
    expect(last().path).toBe('/echo/K%201');
    expect(dotted.url).toBe(`${receiver.url}/echo/K%201`);
  });

  it('sends each value as one segment: a key or event id of `..` or `.` cannot move the request, and the log shows the URL sent', async () => {
    const origin = receiver.url.replace('//', '//user@');
    for (const template of [`${receiver.url}/echo/accounts/{key}/sync?e={eventId}`, `${origin}/echo/accounts/{key}/sync?e={eventId}`]) {
      const up = await restSink({ url: template }).send({ body }, contractContext({ key: '..', eventId: '..' }));
      expect(last().path).toBe('/echo/accounts/%2E%2E/sync?e=%2E%2E');
      expect(up.url).toBe(`${receiver.url}/echo/accounts/%2E%2E/sync?e=%2E%2E`);
      const here = await restSink({ url: template }).send({ body }, contractContext({ key: '.', eventId: 'e.1' }));
      expect(last().path).toBe('/echo/accounts/%2E/sync?e=e.1');
      expect(here.url).toBe(`${receiver.url}/echo/accounts/%2E/sync?e=e.1`);
    }
  });

  it('takes the method from the request over the sink option, upper-cased', async () => {
    const sink = restSink({ url: `${receiver.url}/echo`, method: 'PATCH' });
    const put = await sink.send({ body, method: 'put' }, contractContext());
    expect(last().method).toBe('PUT');
    expect(JSON.parse(last().body)).toEqual(body);
    expect(put.method).toBe('PUT');
    const patch = await sink.send({ body }, contractContext());
    expect(last().method).toBe('PATCH');
    expect(patch.method).toBe('PATCH');
  });

  it('sends no body with GET', async () => {
    const response = await restSink({ url: `${receiver.url}/echo` }).send({ body, method: 'GET' }, contractContext());
    expect(response.status).toBe(200);
    expect(last().method).toBe('GET');
    expect(last().body).toBe('');
  });

  it('adds the sink and delivery headers, the delivery winning', async () => {
    const sink = restSink({ url: `${receiver.url}/echo`, headers: { 'x-tenant': 'acme', 'x-source': 'sink' } });
    const response = await sink.send({ body, headers: { 'x-source': 'delivery' } }, contractContext());
    expect(last().headers).toMatchObject({ 'x-tenant': 'acme', 'x-source': 'delivery', 'user-agent': 'Confluo' });
    expect(response.requestHeaders).toMatchObject({ 'x-tenant': 'acme', 'x-source': 'delivery' });
  });

  it('sends a bearer token and shows it nowhere in the response summary, even when the receiver echoes it', async () => {
    const token = 'tok_LiveBearer_7f3a9c2e5d';
    const sink = restSink({ url: `${receiver.url}/echo`, auth: { type: 'bearer', token } });
    const response = await sink.send({ body }, contractContext());
    expect(last().headers.authorization).toBe(`Bearer ${token}`);
    expect(response.requestHeaders.authorization).toBe('Bearer ****');
    expect(response.body).toContain('Bearer ****');
    expect(JSON.stringify(response)).not.toContain(token);
    expect(sink.secrets()).toEqual([token]);
  });

  it('lists its signing secret, and its bare key, among the values to mask', () => {
    const key = randomBytes(24).toString('base64');
    expect(restSink({ url: `${receiver.url}/ok`, secret: `whsec_${key}`, auth: { type: 'bearer', token: 'tok_abcdef' } }).secrets()).toEqual([`whsec_${key}`, key, 'tok_abcdef']);
  });

  it('masks the bare base64 key of its signing secret when the receiver echoes it', async () => {
    const key = randomBytes(24).toString('base64');
    const response = await restSink({ url: `${receiver.url}/echo`, secret: `whsec_${key}` }).send({ body: { verifiedWith: key } }, contractContext());
    expect(response.status).toBe(200);
    expect(response.body).toContain('"verifiedWith\\":\\"****\\"');
    expect(JSON.stringify(response)).not.toContain(key);
  });

  it('does not send again on a 401 with a static bearer token', async () => {
    const before = receiver.to('/unknown').length;
    const response = await restSink({ url: `${receiver.url}/unknown`, auth: { type: 'bearer', token: 'tok_abcdef' } }).send({ body }, contractContext());
    expect(response.status).toBe(404);
    expect(receiver.to('/unknown').length - before).toBe(1);
  });
});

describe('restSink with OAuth2', () => {
  const CLIENT_SECRET = 's3cr3t-value';
  let receiver: Receiver;
  let issued: number;
  /** Tokens the resource rejects with 401, even when fresh. */
  let rejected: Set<string>;
  beforeEach(async () => {
    issued = 0;
    rejected = new Set(['t1']);
    receiver = await startReceiver({
      '/token': (_req, res) => {
        issued += 1;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: `t${issued}`, token_type: 'Bearer', expires_in: 3600 }));
      },
      '/resource': (req, res) => {
        const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
        res.writeHead(rejected.has(token) ? 401 : 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ token }));
      },
    });
  });
  afterEach(async () => {
    await receiver.close();
  });

  const oauthSink = () =>
    restSink({
      url: `${receiver.url}/resource`,
      auth: { type: 'oauth2', grant: 'client_credentials', tokenUrl: `${receiver.url}/token`, clientId: 'id', clientSecret: CLIENT_SECRET },
    });

  it('refreshes the token once on a 401 and sends again', async () => {
    const response = await oauthSink().send({ body }, contractContext());
    expect(classify(response, Date.now())).toEqual({ kind: 'success' });
    expect(receiver.to('/token')).toHaveLength(2);
    expect(receiver.to('/resource').map((r) => r.headers.authorization)).toEqual(['Bearer t1', 'Bearer t2']);
    expect(new URLSearchParams(receiver.to('/token')[0]!.body).get('client_secret')).toBe(CLIENT_SECRET);
    expect(response.requestHeaders.authorization).toBe('Bearer ****');
    expect(JSON.stringify(response)).not.toContain(CLIENT_SECRET);
  });

  it('refreshes only once: a second 401 is the answer', async () => {
    rejected.add('t2');
    const response = await oauthSink().send({ body }, contractContext());
    expect(response.status).toBe(401);
    expect(classify(response, Date.now())).toEqual({ kind: 'fail', reason: 'HTTP 401' });
    expect(receiver.to('/token')).toHaveLength(2);
    expect(receiver.to('/resource')).toHaveLength(2);
  });

  it('keeps the token for the next send', async () => {
    rejected.clear();
    const sink = oauthSink();
    await sink.send({ body }, contractContext());
    await sink.send({ body }, contractContext({ deliveryId: 'msg_next' }));
    expect(receiver.to('/token')).toHaveLength(1);
    expect(receiver.to('/resource').map((r) => r.headers.authorization)).toEqual(['Bearer t1', 'Bearer t1']);
  });
});

describe('outbound policy of REST and Slack sinks', () => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver({
      '/token': (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: 'tok_fetched', expires_in: 3600 }));
      },
    });
  });
  afterAll(async () => {
    await receiver.close();
  });
  const local = () => receiver.url.replace('127.0.0.1', 'localhost');
  const noLoopback = { allowLoopback: false };

  it('refuses a destination the policy refuses, by address or by what its name resolves to, as a terminal failure naming host and address', async () => {
    const before = receiver.received.length;
    const byAddress = await restSink({ url: `${receiver.url}/echo/{key}`, outbound: noLoopback }).send({ body }, contractContext());
    expect(byAddress.error).toBeInstanceOf(OutboundRefusedError);
    expect(byAddress.url).toBe(`${receiver.url}/echo/CC-1`);
    expect(classify(byAddress, Date.now())).toEqual({ kind: 'fail', reason: 'refused to connect to 127.0.0.1: it is a loopback address and outbound.allowLoopback is false' });
    const byName = await slackSink({ webhookUrl: `${local()}/services/T1/B2/hook`, outbound: noLoopback }).send({ body }, contractContext());
    expect(classify(byName, Date.now())).toMatchObject({ kind: 'fail', reason: expect.stringMatching(/^refused to connect to localhost \((127.0.0.1|::1)\): it is a loopback address/) });
    expect(receiver.received.length).toBe(before);
  });

  it('takes the hub\'s policy when it has none of its own, and keeps its own otherwise', async () => {
    const plain = restSink({ url: `${receiver.url}/ok` });
    const own = restSink({ url: `${receiver.url}/ok`, outbound: {} });
    for (const sink of [plain, own]) sink.useOutbound?.(outboundPolicy(noLoopback));
    expect((await plain.send({ body }, contractContext())).error).toBeInstanceOf(OutboundRefusedError);
    expect((await own.send({ body }, contractContext())).status).toBe(200);
  });

  it('sends the OAuth2 token request through the policy too', async () => {
    const before = receiver.received.length;
    const sink = restSink({
      url: `${receiver.url}/ok`,
      auth: { type: 'oauth2', grant: 'client_credentials', tokenUrl: `${local()}/token`, clientId: 'id', clientSecret: 'cs_0123456789' },
      outbound: { denyHosts: ['localhost'] },
    });
    const response = await sink.send({ body }, contractContext());
    expect(response.error).toMatchObject({ code: 'AUTH_FAILED', retryable: false, message: expect.stringContaining('refused to connect to localhost') });
    expect(classify(response, Date.now()).kind).toBe('fail');
    expect(receiver.received.length).toBe(before);
  });
});

describe('slackSink', () => {
  const TOKEN = 'Xy7kQ2mN9pL4sR8tV1wZ3bC6';
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver({
      '/services': (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      },
    });
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('posts to the webhook and masks its secret path in response.url', async () => {
    const path = `/services/T0AAAAAAA/B0BBBBBBB/${TOKEN}`;
    const sink = slackSink({ webhookUrl: `${receiver.url}${path}` });
    const response = await sink.send({ body: { text: 'hello' } }, contractContext());
    expect(classify(response, Date.now())).toEqual({ kind: 'success' });
    expect(receiver.received.at(-1)!.path).toBe(path);
    expect(response.url).toBe(`${receiver.url}/services/T0AAAAAAA/B0BBBBBBB/****`);
    expect(JSON.stringify(response)).not.toContain(TOKEN);
    expect(sink.kind).toBe('slack');
    expect(maskText(`a log line about ${path}`, sink.secrets())).not.toContain(TOKEN);
  });

  it('masks the webhook secret in response.url even when it does not look random', async () => {
    const sink = slackSink({ webhookUrl: `${receiver.url}/services/T1/B2/plainhooksecret` });
    const response = await sink.send({ body: { text: 'hello' } }, contractContext());
    expect(response.status).toBe(200);
    expect(response.url).toBe(`${receiver.url}/services/T1/B2/****`);
  });
});

describe('functionSink', () => {
  const send = async (fn: Parameters<typeof functionSink>[0], options: { name?: string } = {}) => {
    const startedAt = Date.now();
    const response = await functionSink(fn, options).send({ body }, contractContext());
    return { response, verdict: classify(response, Date.now()), elapsedMs: Date.now() - startedAt };
  };

  it('calls the function with the request and the context', async () => {
    const calls: unknown[][] = [];
    await send(async (...args) => {
      calls.push(args);
    });
    expect(calls).toEqual([[{ body }, contractContext()]]);
  });

  it('succeeds when the function returns nothing, summarised as a CALL to its name', async () => {
    const { response, verdict } = await send(async function notifyDesk() {});
    expect(verdict).toEqual({ kind: 'success' });
    expect(response).toEqual({ method: 'CALL', url: 'function:notifyDesk', requestHeaders: {}, status: 200 });
    const named = await send(async () => {}, { name: 'crm' });
    expect(named.response.url).toBe('function:crm');
  });

  it('settles by the status the function returns', async () => {
    const { verdict } = await send(async () => ({ status: 503, headers: { 'retry-after': '3' } }));
    expect(verdict).toEqual({ kind: 'retry', retryAfterMs: 3_000, reason: 'HTTP 503' });
  });

  it('retries when the function throws', async () => {
    const { response, verdict } = await send(async () => {
      throw new Error('crm is down');
    });
    expect(response.status).toBeUndefined();
    expect(verdict).toEqual({ kind: 'retry', reason: 'Error: crm is down' });
  });

  it('fails at once on NonRetryableError', async () => {
    const { verdict } = await send(async () => {
      throw new NonRetryableError('customer was deleted');
    });
    expect(verdict).toEqual({ kind: 'fail', reason: 'customer was deleted' });
  });

  it('waits as asked on RetryAfterError', async () => {
    const { verdict } = await send(async () => {
      throw new RetryAfterError(1_500);
    });
    expect(verdict).toEqual({ kind: 'retry', retryAfterMs: 1_500, reason: 'retry after 1500 ms' });
  });

  it('retries a function slower than timeoutMs, naming the timeout', async () => {
    let timer: NodeJS.Timeout | undefined;
    const { response, verdict, elapsedMs } = await send(
      () =>
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, 2_000);
        }),
    );
    clearTimeout(timer);
    expect(elapsedMs).toBeLessThan(1_000);
    expect(response.status).toBeUndefined();
    expect(verdict).toEqual({ kind: 'retry', reason: 'Error: no answer within 300 ms' });
  });
});
