// The HTTP driver behind the REST and Slack sinks: JSON body, per-request
// timeout, optional auth (bearer or OAuth2, refreshed once on 401) and
// Standard Webhooks signing with a stable `webhook-id`.
import { createHmac } from 'node:crypto';
import { getGlobalDispatcher, type Dispatcher } from 'undici';
import { Webhook } from 'standardwebhooks';
import { createAuthenticator, maskHeaders, masker, maskUrl, type AuthOptions } from '../auth/index.js';
import type { DeliveryRequest } from '../../store/delivery-types.js';
import type { Sink, SinkContext, SinkResponse } from '../sink.js';
import { deadlines } from './deadline.js';
import { exchange, NoAnswerError } from './exchange.js';

export interface HttpSinkOptions {
  kind: string;
  /** A URL, or a template with `{key}`, `{entity}`, `{integration}`, `{eventId}` (each URL-encoded). */
  url: string;
  /** @defaultValue 'POST' */
  method?: string;
  headers?: Record<string, string>;
  auth?: AuthOptions;
  /** A Standard Webhooks secret (`whsec_…`): adds `webhook-id`, `webhook-timestamp`, `webhook-signature`. */
  signingSecret?: string;
  /** More values never to show in a log line (e.g. the secret part of a webhook URL). */
  secrets?: readonly string[];
  /** Bytes of response body kept for the log. @defaultValue 2048 */
  responseExcerpt?: number;
  dispatcher?: Dispatcher;
}

const PLACEHOLDER = /\{(key|entity|integration|eventId)\}/g;

export function expandUrl(template: string, context: Pick<SinkContext, 'key' | 'entity' | 'integration' | 'eventId'>): string {
  return template.replace(PLACEHOLDER, (_, name: keyof typeof context) => encodeURIComponent(context[name]));
}

/**
 * A template whose origin is fixed (`scheme://host[:port]`, no placeholder, no credentials)
 * split into that origin and the path template: such requests go to undici as origin and
 * path, skipping a URL parse per request (about 35 µs of CPU each).
 */
const FIXED_ORIGIN = /^(https?:\/\/[A-Za-z0-9.\-[\]:]+)([/?][A-Za-z0-9\-._~!$&'()*+,;=:@/?%{}]*)?$/;

/** What undici's `request(url)` does with a URL it is given whole. */
function originAndPath(url: string): { origin: string; path: string } {
  const parsed = new URL(url);
  return { origin: parsed.origin, path: parsed.pathname + parsed.search };
}

function splitOrigin(template: string): { origin: string; rest: string } | undefined {
  const match = FIXED_ORIGIN.exec(template);
  // Dot segments are left to the URL parser, which resolves them.
  if (!match || /\/\.\.?(?:[/?]|$)/.test(match[2] ?? '')) return undefined;
  return { origin: match[1] as string, rest: match[2] ?? '' };
}

/** Standard Webhooks `webhook-signature`: HMAC-SHA256 of `id.timestamp.body`, base64, as `v1,…`. */
function signer(secret: string): (id: string, timestamp: number, body: string) => string {
  // The library checks the secret as before (and stays the reference the tests verify against);
  // node:crypto signs: 2 µs a request against 8 µs for the library's JavaScript SHA-256.
  void new Webhook(secret);
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  return (id, timestamp, body) => `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

export function httpSink(options: HttpSinkOptions): Sink {
  const authenticator = createAuthenticator(options.auth, options.dispatcher ? { dispatcher: options.dispatcher } : {});
  const sign = options.signingSecret ? signer(options.signingSecret) : undefined;
  const excerpt = options.responseExcerpt ?? 2048;
  const auth = options.auth as Partial<Record<'token' | 'clientSecret' | 'password', string>> | undefined;
  const secrets = [
    ...new Set(
      [options.signingSecret, auth?.token, auth?.clientSecret, auth?.password, ...(options.secrets ?? [])].filter((s): s is string => typeof s === 'string' && s.length > 0),
    ),
  ];
  const maskSecrets = masker(secrets);
  /** The masker for a credential fetched at run time (an OAuth2 token), kept while it is the one sent. */
  let withSent: { sent: string; mask: (text: string) => string } | undefined;
  const maskWith = (sent: string | undefined) => {
    if (sent === undefined || secrets.includes(sent)) return maskSecrets;
    if (withSent?.sent !== sent) withSent = { sent, mask: masker([...secrets, sent]) };
    return withSent.mask;
  };
  const fixed = splitOrigin(options.url);
  const limits = { excerpt, deadlines: deadlines() };
  const baseHeaders: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Confluo', ...options.headers };

  async function attempt(method: string, url: string, path: string | undefined, body: string, headers: Record<string, string>, context: SinkContext): Promise<SinkResponse> {
    try {
      // Without auth there is nothing to wait for: skip the await (a microtask per delivery).
      if (options.auth !== undefined) Object.assign(headers, await authenticator.headers());
      const dispatcher = options.dispatcher ?? getGlobalDispatcher();
      const payload = method === 'GET' || method === 'HEAD' ? null : body;
      const request: Dispatcher.DispatchOptions =
        fixed && path !== undefined
          ? { origin: fixed.origin, path, method: method as Dispatcher.HttpMethod, headers, body: payload }
          : { ...originAndPath(url), method: method as Dispatcher.HttpMethod, headers, body: payload };
      const answer = await exchange(dispatcher, request, context.timeoutMs, limits);
      // The credential actually sent (e.g. a fetched OAuth2 token) must not come back through an echo.
      const sent = headers.authorization?.split(' ').at(-1);
      const shown = answer.body.length === 0 ? answer.body : maskWith(sent)(answer.body);
      return { method, url: maskedUrl(url), requestHeaders: maskHeaders(headers), status: answer.status, headers: answer.headers, body: shown };
    } catch (error) {
      return { method, url: maskedUrl(url), requestHeaders: maskHeaders(headers), error: error instanceof NoAnswerError ? new Error(error.message) : error };
    }
  }

  /** Fresh for each attempt: the auth header is added to it, and a retry signs anew. */
  function headersFor(delivery: DeliveryRequest, deliveryId: string, body: string): Record<string, string> {
    // Copied name by name into a fresh object: a spread copy cost about 1.5 µs a request, the loop 0.05.
    const headers: Record<string, string> = {};
    for (const name in baseHeaders) headers[name] = baseHeaders[name] as string;
    if (delivery.headers) for (const name in delivery.headers) headers[name] = delivery.headers[name] as string;
    if (sign) {
      const timestamp = Math.floor(Date.now() / 1000);
      headers['webhook-id'] = deliveryId;
      headers['webhook-timestamp'] = String(timestamp);
      headers['webhook-signature'] = sign(deliveryId, timestamp, body);
    }
    return headers;
  }

  function maskedUrl(url: string): string {
    return maskSecrets(maskUrl(url));
  }

  return {
    kind: options.kind,
    secrets: () => [...secrets],
    async send(delivery: DeliveryRequest, context: SinkContext): Promise<SinkResponse> {
      const method = (delivery.method ?? options.method ?? 'POST').toUpperCase();
      const rest = fixed && expandUrl(fixed.rest, context);
      const url = fixed && rest !== undefined ? fixed.origin + rest : expandUrl(options.url, context);
      const path = rest === undefined ? undefined : rest.startsWith('/') ? rest : `/${rest}`;
      const body = JSON.stringify(delivery.body);
      const first = await attempt(method, url, path, body, headersFor(delivery, context.deliveryId, body), context);
      if (first.status === 401 && options.auth?.type === 'oauth2') {
        // The cached token may have been revoked early: fetch a new one and try once more.
        authenticator.invalidate();
        return attempt(method, url, path, body, headersFor(delivery, context.deliveryId, body), context);
      }
      return first;
    },
  };
}
