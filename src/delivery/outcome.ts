// The one place where what a receiver answered becomes what happens to the
// delivery (Standard Webhooks semantics): 2xx succeeds; 408, 429, 5xx, timeouts
// and network errors retry (honouring Retry-After); 410 disables the
// integration; any other status fails for good.
import { ConfluoError, RetryAfterError } from '../errors/index.js';

export type Verdict =
  | { kind: 'success' }
  | { kind: 'retry'; retryAfterMs?: number; reason: string }
  | { kind: 'fail'; reason: string }
  | { kind: 'disable'; reason: string };

export interface SendResult {
  status?: number;
  headers?: Record<string, string | string[] | undefined>;
  error?: unknown;
}

// RFC 9110 allows whole seconds or an HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms).
const HTTP_DATE = /^(?:[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4})$/;

/** Retry-After as seconds or an HTTP date, in milliseconds from `now`; undefined when it is neither. */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!HTTP_DATE.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function classify(result: SendResult, now: number): Verdict {
  if (result.error !== undefined) {
    const error = result.error;
    if (error instanceof RetryAfterError) return { kind: 'retry', retryAfterMs: error.retryAfterMs, reason: error.message };
    // NonRetryableError, a rejected OAuth2 client, …: trying again cannot help.
    if (error instanceof ConfluoError && !error.retryable) return { kind: 'fail', reason: error.message };
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { kind: 'retry', reason: message };
  }
  const status = result.status;
  if (status === undefined) return { kind: 'retry', reason: 'no response' };
  if (status >= 200 && status <= 299) return { kind: 'success' };
  if (status === 410) return { kind: 'disable', reason: 'the receiver answered 410 Gone' };
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(result.headers?.['retry-after'], now);
    return retryAfterMs === undefined ? { kind: 'retry', reason: `HTTP ${status}` } : { kind: 'retry', retryAfterMs, reason: `HTTP ${status}` };
  }
  return { kind: 'fail', reason: `HTTP ${status}` };
}
