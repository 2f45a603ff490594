// Delivery ids: the `msg_` + 32 hex digits receivers have always seen, unique,
// and ordered by the time they were made (UUIDv7), which keeps their index compact.
import { describe, expect, it } from 'vitest';
import { newDeliveryId } from './outbox.js';

describe('newDeliveryId', () => {
  it('is msg_ and a version-7 UUID in hex, carrying the time it was made', () => {
    const now = Date.UTC(2026, 10, 22, 8, 0, 0, 123);
    const id = newDeliveryId(now);
    expect(id).toMatch(/^msg_[0-9a-f]{12}7[0-9a-f]{3}[89ab][0-9a-f]{15}$/);
    expect(Number.parseInt(id.slice(4, 16), 16)).toBe(now);
  });

  it('never repeats within one millisecond, and sorts later ids after earlier ones', () => {
    const now = Date.now();
    const same = new Set(Array.from({ length: 10_000 }, () => newDeliveryId(now)));
    expect(same.size).toBe(10_000);
    const ids = [now - 86_400_000, now - 1, now, now + 1, now + 3_600_000].map((t) => newDeliveryId(t));
    expect([...ids].sort()).toEqual(ids);
  });
});
