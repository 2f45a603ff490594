// Every sink driver runs the Sink contract; below it, what each driver adds:
// Standard Webhooks signing, URL templates, auth and masking for REST, the
// masked webhook path for Slack, and the error semantics of function sinks.
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NonRetryableError, RetryAfterError } from '../../errors/index.js';
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

  it('sends to `/` for a URL without a path, and resolves dot segments, logging each URL as written', async () => {
    const bare = await restSink({ url: receiver.url }).send({ body }, contractContext());
    expect(last().path).toBe('/');
    expect(bare.url).toBe(receiver.url);
    const dotted = await restSink({ url: `${receiver.url}/skip/../echo/{key}` }).send({ body }, contractContext({ key: 'K 1' }));
    expect(last().path).toBe('/echo/K%201');
    expect(dotted.url).toBe(`${receiver.url}/skip/../echo/K%201`);
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

  it('lists its signing secret among the values to mask', () => {
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    expect(restSink({ url: `${receiver.url}/ok`, secret, auth: { type: 'bearer', token: 'tok_abcdef' } }).secrets()).toEqual([secret, 'tok_abcdef']);
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
