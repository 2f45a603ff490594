import { describe, expect, it } from 'vitest';
import { limitHeapGrowth } from './heap-growth.js';

describe('limitHeapGrowth', () => {
  it('leaves a growth given on the command line alone', () => {
    expect(limitHeapGrowth(['--max-semi-space-size=32', '--heap-growing-percent=60'])).toBe(false);
    expect(limitHeapGrowth(['--heap_growing_percent=60'])).toBe(false);
  });

  it('caps the growth when the command line does not say', () => {
    expect(limitHeapGrowth(['--max-semi-space-size=32'])).toBe(true);
  });
});
