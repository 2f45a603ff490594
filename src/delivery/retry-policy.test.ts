// The retry schedule: the Standard Webhooks defaults, custom lists, exponential
// backoff with jitter, Retry-After, max attempts and max age.
import { describe, expect, it } from 'vitest';
import { DEFAULT_DELAYS_MS, retryPolicy } from './retry-policy.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

describe('retryPolicy', () => {
  it('waits 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h by default, and gives up after 8 attempts', () => {
    const policy = retryPolicy();
    expect(policy.maxAttempts).toBe(8);
    const delays = [1, 2, 3, 4, 5, 6, 7].map((attemptsMade) => policy.nextDelay(attemptsMade, { ageMs: 0 }));
    expect(delays).toEqual([5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR]);
    expect(policy.nextDelay(8, { ageMs: 0 })).toBeUndefined();
    expect(policy.nextDelay(9, { ageMs: 0 })).toBeUndefined();
  });

  it('starts the default list with an immediate first attempt', () => {
    expect(DEFAULT_DELAYS_MS[0]).toBe(0);
    expect(DEFAULT_DELAYS_MS).toHaveLength(8);
  });

  it('takes the number of attempts from a custom list', () => {
    const policy = retryPolicy({ delaysMs: [0, 1_000, 2_000] });
    expect(policy.maxAttempts).toBe(3);
    expect(policy.nextDelay(1, { ageMs: 0 })).toBe(1_000);
    expect(policy.nextDelay(2, { ageMs: 0 })).toBe(2_000);
    expect(policy.nextDelay(3, { ageMs: 0 })).toBeUndefined();
  });

  it('repeats the last delay when maxAttempts outruns the list', () => {
    const policy = retryPolicy({ delaysMs: [0, 1_000, 2_000], maxAttempts: 5 });
    expect([1, 2, 3, 4].map((n) => policy.nextDelay(n, { ageMs: 0 }))).toEqual([1_000, 2_000, 2_000, 2_000]);
    expect(policy.nextDelay(5, { ageMs: 0 })).toBeUndefined();
  });

  it('lets a receiver\'s Retry-After win over the schedule, but not over maxAttempts', () => {
    const policy = retryPolicy({ delaysMs: [0, 1_000, 2_000] });
    expect(policy.nextDelay(1, { ageMs: 0, retryAfterMs: 60_000 })).toBe(60_000);
    expect(policy.nextDelay(1, { ageMs: 0, retryAfterMs: 0 })).toBe(0);
    expect(policy.nextDelay(3, { ageMs: 0, retryAfterMs: 60_000 })).toBeUndefined();
  });

  it('gives up when the next attempt would come after maxAgeMs', () => {
    const policy = retryPolicy({ delaysMs: [0, 1_000, 2_000], maxAgeMs: 10_000 });
    expect(policy.nextDelay(1, { ageMs: 9_000 })).toBe(1_000);
    expect(policy.nextDelay(1, { ageMs: 9_001 })).toBeUndefined();
    expect(policy.nextDelay(1, { ageMs: 0, retryAfterMs: 10_001 })).toBeUndefined();
  });

  it('grows exponentially up to maxMs without jitter', () => {
    const policy = retryPolicy({ exponential: { initialMs: 1_000, factor: 3, maxMs: 20_000, jitter: 0 } });
    expect(policy.maxAttempts).toBe(8);
    expect([1, 2, 3, 4, 5].map((n) => policy.nextDelay(n, { ageMs: 0 }))).toEqual([1_000, 3_000, 9_000, 20_000, 20_000]);
    expect(policy.nextDelay(8, { ageMs: 0 })).toBeUndefined();
  });

  it('keeps exponential jitter within ±jitter of the capped delay', () => {
    const at = (random: number, attemptsMade: number) =>
      retryPolicy({ exponential: { initialMs: 1_000, factor: 2, maxMs: 10_000, jitter: 0.25 } }, () => random).nextDelay(attemptsMade, { ageMs: 0 });
    expect(at(0, 1)).toBe(750);
    expect(at(0.5, 1)).toBe(1_000);
    expect(at(0.999_999, 1)).toBe(1_250);
    expect(at(0, 6)).toBe(7_500);
    expect(at(0.999_999, 6)).toBe(12_500);
    for (let i = 0; i <= 100; i += 1) {
      const delay = at(i / 100.01, 3)!;
      expect(delay).toBeGreaterThanOrEqual(3_000);
      expect(delay).toBeLessThanOrEqual(5_000);
    }
  });

  it('jitters an exponential schedule by ±20% unless told otherwise', () => {
    expect(retryPolicy({ exponential: { initialMs: 1_000 } }, () => 0).nextDelay(2, { ageMs: 0 })).toBe(1_600);
  });

  it('jitters a list only when asked, and never a 0 delay', () => {
    expect(retryPolicy({ delaysMs: [0, 1_000] }, () => 0).nextDelay(1, { ageMs: 0 })).toBe(1_000);
    const jittered = retryPolicy({ delaysMs: [0, 1_000, 0], jitter: 0.1 }, () => 0);
    expect(jittered.nextDelay(1, { ageMs: 0 })).toBe(900);
    expect(jittered.nextDelay(2, { ageMs: 0 })).toBe(0);
  });

  it('rejects maxAttempts below 1 or fractional, and empty, negative or non-finite delays', () => {
    expect(() => retryPolicy({ maxAttempts: 0 })).toThrow(RangeError);
    expect(() => retryPolicy({ maxAttempts: 1.5 })).toThrow(/maxAttempts must be a whole number from 1, got 1.5/);
    expect(() => retryPolicy({ delaysMs: [] })).toThrow(RangeError);
    expect(() => retryPolicy({ delaysMs: [0, -1] })).toThrow(/delaysMs must list delays of 0 or more milliseconds/);
    expect(() => retryPolicy({ delaysMs: [0, Number.NaN] })).toThrow(RangeError);
    expect(() => retryPolicy({ delaysMs: [0, Number.POSITIVE_INFINITY] })).toThrow(RangeError);
  });

  // Unchecked, `initialMs: -1000` or `jitter: 2` would schedule negative delays and NaN would schedule NaN.
  it('rejects a negative or non-finite initialMs and a jitter outside 0..1', () => {
    expect(() => retryPolicy({ exponential: { initialMs: -1_000 } })).toThrow(RangeError);
    expect(() => retryPolicy({ exponential: { initialMs: Number.NaN } })).toThrow(RangeError);
    expect(() => retryPolicy({ exponential: { initialMs: 1_000, jitter: 2 } })).toThrow(RangeError);
    expect(() => retryPolicy({ delaysMs: [0, 1_000], jitter: 3 })).toThrow(RangeError);
  });
});
