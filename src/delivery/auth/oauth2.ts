// The OAuth2 token provider behind a sink: fetches a token with the client
// credentials or password grant, caches it until shortly before it expires,
// and lets concurrent callers share one token request. Answers are read up to
// `maxResponseBytes`, and a token too long to send as a header is refused.
import { request, type Dispatcher } from 'undici';
import { z } from 'zod';
import { ConfluoError } from '../../errors/index.js';
import type { Authenticator, OAuth2Options } from './auth.js';
import { AuthError } from './auth-error.js';
import { maskText, maskUrl } from './mask.js';

export interface OAuth2Deps {
  /** Milliseconds since the epoch. @defaultValue Date.now */
  clock?: () => number;
  dispatcher?: Dispatcher;
  /** Bounds one token request, answer body included. @defaultValue 10000 */
  timeoutMs?: number;
  /** A token is renewed this long before `expires_in` runs out. @defaultValue 30000 */
  skewMs?: number;
  /** How long a token without `expires_in` is kept. @defaultValue 300000 (5 minutes) */
  defaultTtlMs?: number;
}

/** Longer tokens are refused: most servers take 8 KiB of header line at most (nginx, Apache). */
const MAX_TOKEN_CHARS = 8192;
const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

// Token and type end up in a header: printable ASCII without spaces, so no answer can inject one.
const headerToken = z.string().max(MAX_TOKEN_CHARS, `longer than ${MAX_TOKEN_CHARS} characters`).regex(/^[\x21-\x7E]+$/);

// Salesforce answers also carry `instance_url`, `issued_at` (ms), `id` and
// `signature`; they are not needed and are dropped. `expires_in` is sometimes a string.
const tokenResponseSchema = z.object({
  access_token: headerToken,
  token_type: headerToken.optional(),
  expires_in: z.union([z.number().nonnegative(), z.string().regex(/^\d+$/).transform(Number)]).optional(),
});

const oauthErrorSchema = z.object({ error: z.string(), error_description: z.string().optional() });

interface CachedToken {
  header: string;
  expiresAt: number;
}

interface TokenRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** RFC 6749 §2.3.1: id and secret are form-encoded before they are joined and base64-encoded. */
const formEncode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);

function buildTokenRequest(options: OAuth2Options): TokenRequest {
  const fields = new URLSearchParams({ grant_type: options.grant });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (options.credentialsIn === 'header') {
    const basic = Buffer.from(`${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`).toString('base64');
    headers.authorization = `Basic ${basic}`;
  } else {
    fields.set('client_id', options.clientId);
    fields.set('client_secret', options.clientSecret);
  }
  if (options.grant === 'password') {
    fields.set('username', options.username);
    fields.set('password', options.password);
  }
  if (options.scope !== undefined) fields.set('scope', options.scope);
  if (options.grant === 'client_credentials' && options.audience !== undefined) fields.set('audience', options.audience);

  if (options.credentialsIn !== 'query') return { url: options.tokenUrl, headers, body: fields.toString() };
  const url = new URL(options.tokenUrl);
  for (const [name, value] of fields) url.searchParams.append(name, value);
  return { url: url.href, headers, body: '' };
}

const retryableStatus = (status: number) => status === 408 || status === 429 || status >= 500;

export function createOAuth2Authenticator(options: OAuth2Options, deps: OAuth2Deps = {}): Authenticator {
  const clock = deps.clock ?? Date.now;
  const timeoutMs = deps.timeoutMs ?? 10_000;
  const skewMs = deps.skewMs ?? 30_000;
  const defaultTtlMs = deps.defaultTtlMs ?? 300_000;
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const shownUrl = maskUrl(options.tokenUrl);
  const secrets = [options.clientSecret, options.grant === 'password' ? options.password : undefined];
  const fail = (message: string, retryable: boolean, status?: number, cause?: unknown) =>
    new AuthError(maskText(`token request to ${shownUrl} ${message}`, secrets), {
      retryable,
      cause,
      details: { tokenUrl: shownUrl, ...(status === undefined ? {} : { status }) },
    });

  let cached: CachedToken | undefined;
  let inFlight: Promise<CachedToken> | undefined;

  async function fetchToken(): Promise<CachedToken> {
    const startedAt = clock();
    const { url, headers, body } = buildTokenRequest(options);
    let status: number;
    let text: string | undefined;
    try {
      const response = await request(url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(timeoutMs),
        ...(deps.dispatcher ? { dispatcher: deps.dispatcher } : {}),
      });
      status = response.statusCode;
      text = await readUpTo(response, maxBytes);
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'TimeoutError' || name === 'AbortError') throw fail(`timed out after ${timeoutMs} ms`, true, undefined, error);
      // A refused destination (the outbound policy) stays refused.
      const retryable = !(error instanceof ConfluoError) || error.retryable;
      throw fail(`failed: ${(error as Error).message}`, retryable, undefined, error);
    }
    if (text === undefined) throw fail(`failed: the answer is larger than maxResponseBytes (${maxBytes} bytes)`, false, status);

    if (status < 200 || status > 299) {
      // The OAuth error code (`invalid_client`, `invalid_grant`) is what an operator needs; the body is not shown otherwise.
      const oauthError = oauthErrorSchema.safeParse(parseJson(text));
      const reason = oauthError.success
        ? ` (${[oauthError.data.error, oauthError.data.error_description].filter(Boolean).join(': ').slice(0, 200)})`
        : '';
      throw fail(`failed: HTTP ${status}${reason}`, retryableStatus(status), status);
    }

    const parsed = tokenResponseSchema.safeParse(parseJson(text));
    if (!parsed.success) {
      const fields = [...new Set(parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}${issue.code === 'too_big' ? `: ${issue.message}` : ''}`))].join(', ');
      throw fail(`returned HTTP ${status} without a usable token (${fields})`, false, status);
    }
    const { access_token, token_type, expires_in } = parsed.data;
    const type = token_type === undefined || /^bearer$/i.test(token_type) ? 'Bearer' : token_type;
    // A token shorter-lived than the skew is still used for half its life rather than refetched on every call.
    const ttlMs = expires_in === undefined ? defaultTtlMs : Math.max(expires_in * 1000 - skewMs, (expires_in * 1000) / 2);
    return { header: `${type} ${access_token}`, expiresAt: startedAt + ttlMs };
  }

  return {
    async headers() {
      if (cached !== undefined && clock() < cached.expiresAt) return { authorization: cached.header };
      cached = undefined;
      // One request for every caller that arrives while it runs. An invalidate() meanwhile does not
      // discard its answer: the request was made after the token the sink saw rejected.
      inFlight ??= fetchToken()
        .then((token) => {
          cached = token;
          return token;
        })
        .finally(() => {
          inFlight = undefined;
        });
      return { authorization: (await inFlight).header };
    },
    invalidate() {
      cached = undefined;
    },
  };
}

/** The body as text, or undefined (the rest unread, the connection dropped) once it passes `maxBytes`. */
async function readUpTo(response: Dispatcher.ResponseData, maxBytes: number): Promise<string | undefined> {
  if (Number(response.headers['content-length']) > maxBytes) {
    response.body.destroy();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Leaving the loop destroys the stream.
    if (size > maxBytes) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
