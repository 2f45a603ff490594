// When to try a delivery again. Defaults follow the Standard Webhooks example
// schedule (as Svix runs it): immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.

export interface RetryOptions {
  /**
   * Delay before each attempt; the first is usually 0 (send at once). The number of entries is
   * the default `maxAttempts`.
   * @defaultValue [0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h]
   */
  delaysMs?: readonly number[];
  /**
   * Instead of a list: `initialMs * factor^(attempt-1)`, capped at `maxMs`, with ±`jitter` (a fraction).
   * @see delaysMs
   */
  exponential?: { initialMs: number; factor?: number; maxMs?: number; jitter?: number };
  /** @defaultValue the length of `delaysMs`, or 8 with `exponential` */
  maxAttempts?: number;
  /** Give up once the delivery is this old (counted from the start of its current cycle). @defaultValue no limit */
  maxAgeMs?: number;
  /**
   * Jitter for list schedules, as a fraction (0.2 = ±20%); never applied to a 0 delay.
   * @defaultValue 0
   */
  jitter?: number;
}

export const DEFAULT_DELAYS_MS: readonly number[] = [0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];

export interface RetryPolicy {
  readonly maxAttempts: number;
  /**
   * The delay before the next attempt after `attemptsMade` attempts of this cycle, or undefined
   * when the delivery is out of attempts or would pass its max age. A receiver's Retry-After wins
   * over the schedule.
   */
  nextDelay(attemptsMade: number, context: { ageMs: number; retryAfterMs?: number }): number | undefined;
}

export function retryPolicy(options: RetryOptions = {}, random: () => number = Math.random): RetryPolicy {
  const delays = options.delaysMs ?? DEFAULT_DELAYS_MS;
  const maxAttempts = options.maxAttempts ?? (options.exponential ? 8 : delays.length);
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`maxAttempts must be a whole number from 1, got ${maxAttempts}`);
  if (delays.length === 0 || delays.some((d) => !Number.isFinite(d) || d < 0)) throw new RangeError('delaysMs must list delays of 0 or more milliseconds');
  const e = options.exponential;
  if (e) {
    if (!(Number.isFinite(e.initialMs) && e.initialMs >= 0)) throw new RangeError(`exponential.initialMs must be 0 or more milliseconds, got ${e.initialMs}`);
    if (e.factor !== undefined && !(Number.isFinite(e.factor) && e.factor >= 1)) throw new RangeError(`exponential.factor must be 1 or more, got ${e.factor}`);
    if (e.maxMs !== undefined && !(e.maxMs >= 0)) throw new RangeError(`exponential.maxMs must be 0 or more milliseconds, got ${e.maxMs}`);
  }
  for (const [name, fraction] of [['jitter', options.jitter], ['exponential.jitter', e?.jitter]] as const) {
    if (fraction !== undefined && !(fraction >= 0 && fraction <= 1)) throw new RangeError(`${name} must be a fraction from 0 to 1, got ${fraction}`);
  }
  const jitter = (ms: number, fraction: number) => (ms === 0 || fraction === 0 ? ms : Math.round(ms * (1 - fraction + 2 * fraction * random())));

  const scheduled = (attempt: number): number => {
    if (e) return jitter(Math.min(e.initialMs * (e.factor ?? 2) ** (attempt - 1), e.maxMs ?? Number.POSITIVE_INFINITY), e.jitter ?? 0.2);
    return jitter(delays[Math.min(attempt, delays.length - 1)] as number, options.jitter ?? 0);
  };

  return {
    maxAttempts,
    nextDelay(attemptsMade, { ageMs, retryAfterMs }) {
      if (attemptsMade >= maxAttempts) return undefined;
      const delay = retryAfterMs ?? scheduled(attemptsMade);
      if (options.maxAgeMs !== undefined && ageMs + delay > options.maxAgeMs) return undefined;
      return delay;
    },
  };
}
