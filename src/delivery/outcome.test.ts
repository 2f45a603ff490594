// The one mapping from a receiver's answer to a delivery outcome (Standard
// Webhooks semantics), and how Retry-After is read.
import { describe, expect, it } from 'vitest';
import { ConfigError, ConfluoError, NonRetryableError, RetryAfterError, StaleBatchError } from '../errors/index.js';
import { AuthError } from './auth/index.js';
import { classify, parseRetryAfter, type Verdict } from './outcome.js';

const NOW = Date.parse('2025-03-01T12:00:00Z');

describe('classify', () => {
  it.each<[number, Verdict]>([
    [200, { kind: 'success' }],
    [204, { kind: 'success' }],
    [299, { kind: 'success' }],
    [300, { kind: 'fail', reason: 'HTTP 300' }],
    [301, { kind: 'fail', reason: 'HTTP 301' }],
    [400, { kind: 'fail', reason: 'HTTP 400' }],
    [401, { kind: 'fail', reason: 'HTTP 401' }],
    [404, { kind: 'fail', reason: 'HTTP 404' }],
    [408, { kind: 'retry', reason: 'HTTP 408' }],
    [409, { kind: 'fail', reason: 'HTTP 409' }],
    [410, { kind: 'disable', reason: 'the receiver answered 410 Gone' }],
    [429, { kind: 'retry', reason: 'HTTP 429' }],
    [500, { kind: 'retry', reason: 'HTTP 500' }],
    [502, { kind: 'retry', reason: 'HTTP 502' }],
    [503, { kind: 'retry', reason: 'HTTP 503' }],
    [504, { kind: 'retry', reason: 'HTTP 504' }],
  ])('HTTP %i → %o', (status, verdict) => {
    expect(classify({ status, headers: {} }, NOW)).toEqual(verdict);
  });

  it('honours Retry-After in seconds on 429 and 503', () => {
    expect(classify({ status: 429, headers: { 'retry-after': '120' } }, NOW)).toEqual({ kind: 'retry', retryAfterMs: 120_000, reason: 'HTTP 429' });
    expect(classify({ status: 503, headers: { 'retry-after': '0' } }, NOW)).toEqual({ kind: 'retry', retryAfterMs: 0, reason: 'HTTP 503' });
  });

  it('honours Retry-After as an HTTP date', () => {
    const headers = { 'retry-after': new Date(NOW + 90_000).toUTCString() };
    expect(classify({ status: 429, headers }, NOW)).toEqual({ kind: 'retry', retryAfterMs: 90_000, reason: 'HTTP 429' });
  });

  it('ignores Retry-After on answers that are not retried', () => {
    expect(classify({ status: 400, headers: { 'retry-after': '5' } }, NOW)).toEqual({ kind: 'fail', reason: 'HTTP 400' });
    expect(classify({ status: 200, headers: { 'retry-after': '5' } }, NOW)).toEqual({ kind: 'success' });
  });

  it('retries on a network error, naming it', () => {
    const error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    expect(classify({ error }, NOW)).toEqual({ kind: 'retry', reason: 'Error: connect ECONNREFUSED 127.0.0.1:9' });
    expect(classify({ error: 'socket hang up' }, NOW)).toEqual({ kind: 'retry', reason: 'socket hang up' });
  });

  it('lets an error win over a status', () => {
    expect(classify({ status: 200, error: new Error('body cut off') }, NOW)).toEqual({ kind: 'retry', reason: 'Error: body cut off' });
  });

  it('retries when there was no status and no error', () => {
    expect(classify({}, NOW)).toEqual({ kind: 'retry', reason: 'no response' });
  });

  it('waits as long as a RetryAfterError asks', () => {
    expect(classify({ error: new RetryAfterError(1_500, 'quota exhausted') }, NOW)).toEqual({ kind: 'retry', retryAfterMs: 1_500, reason: 'quota exhausted' });
  });

  it('fails at once on NonRetryableError and any ConfluoError that is not retryable', () => {
    expect(classify({ error: new NonRetryableError('customer deleted') }, NOW)).toEqual({ kind: 'fail', reason: 'customer deleted' });
    expect(classify({ error: new ConfluoError('X_BAD', 'bad mapping', { retryable: false }) }, NOW)).toEqual({ kind: 'fail', reason: 'bad mapping' });
    expect(classify({ error: new ConfigError('no url') }, NOW)).toEqual({ kind: 'fail', reason: 'no url' });
    expect(classify({ error: new AuthError('token request refused', { retryable: false }) }, NOW)).toEqual({ kind: 'fail', reason: 'token request refused' });
  });

  it('retries a ConfluoError that is retryable', () => {
    expect(classify({ error: new StaleBatchError('raced') }, NOW)).toEqual({ kind: 'retry', reason: 'StaleBatchError: raced' });
    expect(classify({ error: new AuthError('token endpoint down', { retryable: true }) }, NOW)).toEqual({ kind: 'retry', reason: 'AuthError: token endpoint down' });
  });
});

describe('parseRetryAfter', () => {
  it('reads whole seconds, trimmed', () => {
    expect(parseRetryAfter('7', NOW)).toBe(7_000);
    expect(parseRetryAfter(' 30 ', NOW)).toBe(30_000);
    expect(parseRetryAfter(['2', '9'], NOW)).toBe(2_000);
  });

  it('reads an HTTP date as the time left, never below 0', () => {
    expect(parseRetryAfter('Sat, 01 Mar 2025 12:01:00 GMT', NOW)).toBe(60_000);
    expect(parseRetryAfter('Sat, 01 Mar 2025 11:00:00 GMT', NOW)).toBe(0);
  });

  it.each([undefined, '', '   ', 'soon', '5s', '7 days', '120.0'])('ignores %j', (value) => {
    expect(parseRetryAfter(value, NOW)).toBeUndefined();
  });

  // V8's lenient Date.parse reads '1.5' as 2001-01-05: without the HTTP-date check these would
  // become a past date, 0 ms, an immediate retry. RFC 9110 allows only delay-seconds or an HTTP-date.
  it.each(['1.5', '-5', 'abc 3'])('ignores %j rather than reading it as a date in the past', (value) => {
    expect(parseRetryAfter(value, NOW)).toBeUndefined();
  });
});
