// The http-poll source driver: reads a JSON API that cannot push. Each pull is
// one GET for what changed since the checkpoint (`?since=`); the API's
// next-page cursor or link is kept in the checkpoint until the chain of pages
// ends, and only then does `since` move to the greatest value seen, so the next
// run asks only for newer items and a crash mid-chain resumes from the cursor.
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { z } from 'zod';
import { authSchema, createAuthenticator, maskHeaders, maskText, maskUrl } from '../../delivery/auth/index.js';
import { classify } from '../../delivery/outcome.js';
import { retryPolicy } from '../../delivery/retry-policy.js';
import { ConfigError, ConfluoError } from '../../errors/index.js';
import { outboundAgent } from '../../security/outbound-agent.js';
import { defaultOutboundPolicy, outboundPolicy, outboundSchema } from '../../security/outbound-policy.js';
import { describeIssues } from '../../validation/field-issues.js';
import type { PullContext, PullPage, SourceDriver } from '../source-driver.js';
import { HttpPollError } from './http-poll-error.js';

export { HttpPollError } from './http-poll-error.js';

const sinceValue = z.union([z.string(), z.number()]);
const paramName = z.string().min(1);
const fn = <F>() => z.custom<F>((value) => typeof value === 'function', 'must be a function');

const optionsSchema = z.strictObject({
  /** The API endpoint, e.g. `https://crm.example.com/api/contacts`; its own query parameters are kept. */
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  /** @defaultValue 'since' */
  sinceParam: paramName.default('since'),
  /** @defaultValue 'cursor' */
  cursorParam: paramName.default('cursor'),
  /** The page's items. @defaultValue `body.items`; anything but an array fails the pull */
  items: fn<(body: unknown) => unknown>().optional(),
  /**
   * The next page: an absolute http(s) URL is followed as is; anything else is sent as
   * `cursorParam`, with the `since` the chain started from. null, undefined or '' end the chain.
   * @defaultValue `body.next`
   */
  next: fn<(body: unknown) => string | number | null | undefined>().optional(),
  /**
   * An item's place in time: the name of its field (e.g. `'updatedAt'`), or a function of the raw
   * item, read before the source's item schema. When a chain of pages ends, `since` becomes
   * the greatest value seen. Numbers compare as numbers, anything else as text (ISO-8601 UTC
   * timestamps sort right). Without it `since` never moves and every run reads everything again.
   */
  sinceOf: z.union([paramName, fn<(item: unknown) => string | number>()]).optional(),
  headers: z.record(z.string(), z.string()).default({}),
  /** Static query parameters sent with every request but a followed link. */
  query: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  /**
   * A bearer token or an OAuth2 grant, as REST sinks take it. With OAuth2 a 401 drops the token
   * and the request is made once more with a new one. Credentials in the URL (`user:pass@`)
   * are sent as HTTP Basic instead.
   */
  auth: authSchema.optional(),
  /** Bounds one request, body included. @defaultValue 15000 */
  timeoutMs: z.int().positive().default(15_000),
  /** Tries again after network errors, timeouts, 408, 429 and 5xx. @defaultValue 3 */
  retries: z.int().min(0).default(3),
  /** The first wait between tries; it doubles each time (±20% jitter, at most 30 s). @defaultValue 500 */
  retryDelayMs: z.int().min(0).default(500),
  /**
   * A `Retry-After` longer than this fails the pull at once instead of holding the run;
   * the source's own backoff tries later. @defaultValue 60000
   */
  maxRetryAfterMs: z.int().min(0).default(60_000),
  /**
   * A page larger than this fails the pull at once, not retried (the same page would come again):
   * ask for smaller pages with `limit`, or raise it. At least 64 KiB: OAuth2 token answers go
   * through the same connection pool and limit. @defaultValue 16777216 (16 MiB)
   */
  maxBodyBytes: z.int().min(65_536).default(16 * 1024 * 1024),
  /**
   * Where the driver may connect, token requests included; a refused destination fails the pull
   * at once, not retried. @defaultValue the hub config's `outbound`, else the defaults of `outboundSchema`
   */
  outbound: outboundSchema.optional(),
  /** Items per page, sent as `limitParam` when set. */
  limit: z.int().positive().optional(),
  /** @defaultValue 'limit' */
  limitParam: paramName.default('limit'),
});

export type HttpPollOptions = z.input<typeof optionsSchema>;

const checkpointSchema = z.object({
  since: sinceValue.nullable(),
  /** The next page's cursor or link; null between chains. */
  cursor: z.string().nullable(),
  /** Mid-chain only: the greatest `sinceOf` seen so far, which becomes `since` when the chain ends. */
  highest: sinceValue.optional(),
});

export type HttpPollCheckpoint = z.infer<typeof checkpointSchema>;
type Since = z.infer<typeof sinceValue>;

const LINK = /^https?:\/\//i;
const EXCERPT = 200;

const compare = (a: Since, b: Since) => (typeof a === 'number' && typeof b === 'number' ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0);
const later = (a: Since | null, b: Since | null): Since | null => (a === null ? b : b === null || compare(a, b) >= 0 ? a : b);
const kindOf = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value);
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
const decode = (text: string) => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/** What one GET brought back, or why it brought nothing. */
type Sent = { status: number; headers: Record<string, string | string[] | undefined>; text: string; token: string | undefined } | { failure: string; retryable: boolean; cause: unknown };

export function httpPoll(options: HttpPollOptions): SourceDriver<unknown, HttpPollCheckpoint> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const fields = describeIssues(parsed.error.issues).map((f) => `${f.name}: ${f.message}`);
    throw new ConfigError(`invalid http-poll source options: ${fields.join('; ')}`);
  }
  const o = parsed.data;
  const given = o.sinceOf;
  const sinceOf: ((item: unknown) => unknown) | undefined =
    typeof given === 'string' ? (item) => (item !== null && typeof item === 'object' ? (item as Record<string, unknown>)[given] : undefined) : given;

  // undici drops `user:pass@` from a URL without a word; send it as HTTP Basic, as curl would.
  const base = new URL(o.url);
  const basic = base.username || base.password ? Buffer.from(`${decode(base.username)}:${decode(base.password)}`).toString('base64') : undefined;
  if (basic !== undefined && o.auth !== undefined) throw new ConfigError('invalid http-poll source options: give credentials in the url or in auth, not both');
  const urlPassword = decode(base.password);
  base.username = '';
  base.password = '';

  // One keep-alive pool per driver, token requests included, so close() frees every socket.
  // undici stops reading a body past maxResponseSize (by its Content-Length or as it streams in).
  const own = o.outbound === undefined ? undefined : outboundPolicy(o.outbound);
  let outbound = own ?? defaultOutboundPolicy;
  const agent = outboundAgent(() => outbound, { maxResponseSize: o.maxBodyBytes });
  const authenticator = createAuthenticator(options.auth, { dispatcher: agent, timeoutMs: o.timeoutMs });
  const policy = retryPolicy({ exponential: { initialMs: o.retryDelayMs, factor: 2, maxMs: 30_000, jitter: 0.2 }, maxAttempts: o.retries + 1 });
  const secrets = secretValues(o, urlPassword, basic);
  const show = (url: URL | string) => maskText(maskUrl(url), secrets);
  let closing: Promise<void> | undefined;

  const excerpt = (text: string, token: string | undefined) => {
    const hidden = [...secrets, token];
    // Mask a window that holds any secret starting inside the excerpt, so a cut never leaves half of one.
    const window = EXCERPT + 3 * Math.max(0, ...hidden.map((s) => s?.length ?? 0));
    const shown = maskText(text.slice(0, window), hidden).replace(/\s+/g, ' ').trim();
    if (shown === '') return '(empty body)';
    return shown.length > EXCERPT || text.length > window ? `${shown.slice(0, EXCERPT)}…` : shown;
  };

  const cancelled = (url: URL, reason: unknown) => new HttpPollError(`GET ${show(url)} cancelled`, { retryable: true, url: show(url), cause: reason });

  function pageUrl(from: HttpPollCheckpoint): URL {
    if (from.cursor !== null && LINK.test(from.cursor)) return new URL(from.cursor);
    const url = new URL(base);
    for (const [name, value] of Object.entries(o.query)) url.searchParams.set(name, String(value));
    if (o.limit !== undefined) url.searchParams.set(o.limitParam, String(o.limit));
    if (from.since !== null) url.searchParams.set(o.sinceParam, String(from.since));
    if (from.cursor !== null) url.searchParams.set(o.cursorParam, from.cursor);
    return url;
  }

  async function send(url: URL, context: PullContext): Promise<Sent> {
    if (context.signal.aborted) throw cancelled(url, context.signal.reason);
    if (closing) throw new HttpPollError(`GET ${show(url)}: the driver is closed`, { retryable: false, url: show(url) });
    let auth: Record<string, string>;
    try {
      auth = await authenticator.headers();
    } catch (error) {
      // AuthError says whether waiting can help (a token endpoint that is down) or not (a rejected client).
      return { failure: messageOf(error), retryable: !(error instanceof ConfluoError) || error.retryable, cause: error };
    }
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'Confluo', ...o.headers, ...(basic ? { authorization: `Basic ${basic}` } : {}), ...auth };
    try {
      const response = await request(url, { method: 'GET', headers, signal: AbortSignal.any([context.signal, AbortSignal.timeout(o.timeoutMs)]), dispatcher: agent });
      const text = await response.body.text();
      // The credential actually sent (a fetched OAuth2 token) must not come back through an echo.
      return { status: response.statusCode, headers: response.headers, text, token: auth.authorization?.split(' ').at(-1) };
    } catch (error) {
      if (context.signal.aborted) throw cancelled(url, context.signal.reason);
      if ((error as { code?: unknown } | null)?.code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') {
        return { failure: `the answer is larger than maxBodyBytes (${o.maxBodyBytes} bytes); ask for smaller pages with limit, or raise maxBodyBytes`, retryable: false, cause: error };
      }
      // The outbound policy refused the destination: it will refuse it next time too.
      if (error instanceof ConfluoError && !error.retryable) return { failure: error.message, retryable: false, cause: error };
      const name = error instanceof Error ? error.name : '';
      const timedOut = name === 'TimeoutError' || name === 'AbortError';
      return { failure: timedOut ? `no answer within ${o.timeoutMs} ms` : messageOf(error), retryable: true, cause: error };
    }
  }

  /** GETs `url` until it answers 2xx with JSON, retrying what may pass, and returns the parsed body. */
  async function getJson(url: URL, context: PullContext): Promise<unknown> {
    const shown = show(url);
    let attempts = 0;
    let refreshed = false;
    for (;;) {
      const sent = await send(url, context);
      if ('status' in sent && sent.status === 401 && o.auth?.type === 'oauth2' && !refreshed) {
        // The cached token may have been revoked early: fetch a new one and ask once more.
        refreshed = true;
        authenticator.invalidate();
        continue;
      }
      attempts += 1;
      let reason: string;
      let retryAfterMs: number | undefined;
      if ('status' in sent) {
        const verdict = classify({ status: sent.status, headers: sent.headers }, Date.now());
        const body = excerpt(sent.text, sent.token);
        if (verdict.kind === 'success') {
          try {
            return JSON.parse(sent.text) as unknown;
          } catch (error) {
            throw new HttpPollError(`GET ${shown} answered HTTP ${sent.status} with a body that is not JSON: ${body}`, { retryable: false, url: shown, status: sent.status, attempts, cause: error });
          }
        }
        reason = `HTTP ${sent.status}: ${body}`;
        if (verdict.kind !== 'retry') throw new HttpPollError(`GET ${shown} answered ${reason}`, { retryable: false, url: shown, status: sent.status, attempts });
        retryAfterMs = verdict.retryAfterMs;
      } else {
        reason = maskText(sent.failure, secrets);
        if (!sent.retryable) throw new HttpPollError(`GET ${shown} failed: ${reason}`, { retryable: false, url: shown, attempts, cause: sent.cause });
      }
      const status = 'status' in sent ? sent.status : undefined;
      const cause = 'status' in sent ? undefined : sent.cause;
      const delayMs = policy.nextDelay(attempts, { ageMs: 0, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
      if (delayMs === undefined) {
        throw new HttpPollError(`GET ${shown} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${reason}`, { retryable: true, url: shown, status, attempts, cause });
      }
      if (retryAfterMs !== undefined && retryAfterMs > o.maxRetryAfterMs) {
        throw new HttpPollError(`GET ${shown} answered ${reason} and asked to wait ${retryAfterMs} ms, more than maxRetryAfterMs (${o.maxRetryAfterMs})`, { retryable: true, url: shown, status, attempts, cause });
      }
      context.log.warn({ url: shown, attempt: attempts, delayMs, reason }, 'http-poll request failed; trying again');
      try {
        await sleep(delayMs, undefined, { signal: context.signal });
      } catch {
        throw cancelled(url, context.signal.reason);
      }
    }
  }

  function itemsOf(body: unknown, shown: string): unknown[] {
    const where = o.items ? 'items(body)' : 'body.items';
    let items: unknown;
    try {
      items = o.items ? o.items(body) : isRecord(body) ? body.items : undefined;
    } catch (error) {
      throw new HttpPollError(`GET ${shown}: ${where} threw: ${maskText(messageOf(error), secrets)}`, { retryable: false, url: shown, cause: error });
    }
    if (!Array.isArray(items)) throw new HttpPollError(`GET ${shown} answered a page without an items array (${where} is ${kindOf(items)})`, { retryable: false, url: shown });
    return items;
  }

  function nextOf(body: unknown, shown: string, from: HttpPollCheckpoint): string | null {
    const where = o.next ? 'next(body)' : 'body.next';
    let next: unknown;
    try {
      next = o.next ? o.next(body) : isRecord(body) ? body.next : undefined;
    } catch (error) {
      throw new HttpPollError(`GET ${shown}: ${where} threw: ${maskText(messageOf(error), secrets)}`, { retryable: false, url: shown, cause: error });
    }
    if (next === null || next === undefined || next === '') return null;
    if (typeof next === 'number' && Number.isFinite(next)) next = String(next);
    if (typeof next !== 'string') throw new HttpPollError(`GET ${shown}: ${where} is ${kindOf(next)}, not a cursor or a link`, { retryable: false, url: shown });
    // Headers and tokens go with a followed link: never to another origin.
    if (LINK.test(next) && (!URL.canParse(next) || new URL(next).origin !== base.origin)) {
      throw new HttpPollError(`GET ${shown}: the next link ${show(next)} is not on ${base.origin}; http-poll follows links on the source's own origin only`, { retryable: false, url: shown });
    }
    if (next === from.cursor) throw new HttpPollError(`GET ${shown} answered the cursor it was asked with as the next one; following it would never end`, { retryable: false, url: shown });
    return next;
  }

  function readCheckpoint(checkpoint: HttpPollCheckpoint | null): HttpPollCheckpoint {
    if (checkpoint === null) return { since: null, cursor: null };
    const read = checkpointSchema.safeParse(checkpoint);
    if (read.success) return read.data;
    const shown = show(base);
    throw new HttpPollError(`source ${shown}: the stored checkpoint ${JSON.stringify(checkpoint).slice(0, EXCERPT)} is not an http-poll checkpoint ({ since, cursor })`, { retryable: false, url: shown });
  }

  return {
    kind: 'http-poll',
    secrets: () => [...secrets],
    useOutbound(hubPolicy) {
      if (own === undefined) outbound = hubPolicy;
    },
    async pull(checkpoint, context): Promise<PullPage<unknown, HttpPollCheckpoint>> {
      const from = readCheckpoint(checkpoint);
      const url = pageUrl(from);
      const shown = show(url);
      const body = await getJson(url, context);
      const items = itemsOf(body, shown);
      const next = nextOf(body, shown, from);

      let highest: Since | null = from.cursor === null ? null : (from.highest ?? null);
      let unplaced = 0;
      if (sinceOf) {
        for (const item of items) {
          let value: unknown;
          try {
            value = sinceOf(item);
          } catch {
            value = undefined;
          }
          if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) highest = later(highest, value);
          else unplaced += 1;
        }
      }
      // The items still go to the runner, which rejects what it cannot read; they only do not move `since`.
      if (unplaced > 0) context.log.warn({ url: shown, items: unplaced }, 'http-poll: sinceOf gave no string or number for some items');
      context.log.debug({ url: shown, items: items.length, next: next !== null }, 'http-poll page');

      if (next !== null) return { items, checkpoint: { since: from.since, cursor: next, ...(highest === null ? {} : { highest }) }, more: true };
      return { items, checkpoint: { since: later(from.since, highest), cursor: null }, more: false };
    },
    close() {
      closing ??= agent.close();
      return closing;
    },
  };
}

/** Every credential the options hold, for the runner to mask in logs: auth, URL password, secret-named headers and query values. */
function secretValues(o: z.output<typeof optionsSchema>, urlPassword: string, basic: string | undefined): string[] {
  const auth = o.auth as Partial<Record<'token' | 'clientSecret' | 'password', string>> | undefined;
  const values = [auth?.token, auth?.clientSecret, auth?.password, urlPassword, basic];
  for (const [name, value] of Object.entries(o.headers)) {
    const masked = maskHeaders({ [name]: value })[name];
    if (masked === value) continue;
    // `Bearer ****` keeps its scheme: the secret is what follows it.
    values.push(masked !== '****' && masked?.endsWith(' ****') ? value.trim().slice(value.trim().indexOf(' ') + 1) : value);
  }
  for (const [name, value] of [...new URL(o.url).searchParams, ...Object.entries(o.query)]) {
    const pair = `?${new URLSearchParams({ [name]: String(value) }).toString()}`;
    if (maskUrl(pair) !== pair) values.push(String(value));
  }
  return [...new Set(values.filter((v): v is string => v !== undefined && v !== ''))];
}
