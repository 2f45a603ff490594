// Credential checks: any configured secret matches, in constant time, and the
// digests kept for a list of secrets never let a wrong candidate through.
import { describe, expect, it } from 'vitest';
import { bearerToken, matchesAny, safeEqual } from './secrets.js';

describe('matchesAny', () => {
  it('matches any of the secrets, and nothing else, call after call', () => {
    const keys = ['ck_first_0123456789', 'ck_second_0123456789'];
    for (let round = 0; round < 2; round++) {
      expect(matchesAny('ck_first_0123456789', keys)).toBe(true);
      expect(matchesAny('ck_second_0123456789', keys)).toBe(true);
      expect(matchesAny('ck_third_0123456789', keys)).toBe(false);
      expect(matchesAny('', keys)).toBe(false);
      expect(matchesAny(undefined, keys)).toBe(false);
    }
    expect(matchesAny('ck_first_0123456789', [])).toBe(false);
    expect(matchesAny('ck_third_0123456789', ['ck_third_0123456789'])).toBe(true);
  });

  it('agrees with safeEqual and reads bearer tokens', () => {
    expect(safeEqual('a', 'a')).toBe(true);
    expect(safeEqual('a', 'ab')).toBe(false);
    expect(bearerToken('Bearer abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
  });
});
