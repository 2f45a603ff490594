import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/index.js';
import { backoffDelay, createSchedule } from './schedule.js';

const at = (iso: string) => Date.parse(iso);

describe('createSchedule', () => {
  it('fires a cron pattern in its time zone, across a daylight-saving change', () => {
    // 09:00 in New York is 14:00 UTC in winter (EST) and 13:00 UTC in summer (EDT); DST began 2026-03-08.
    const daily = createSchedule({ cron: '0 9 * * *', timezone: 'America/New_York' }, 'source "s"');
    expect(daily.text).toBe('cron 0 9 * * * (America/New_York)');
    expect(new Date(daily.next(at('2026-03-06T15:00:00Z'))!).toISOString()).toBe('2026-03-07T14:00:00.000Z');
    expect(new Date(daily.next(at('2026-03-07T15:00:00Z'))!).toISOString()).toBe('2026-03-08T13:00:00.000Z');
  });

  it('takes UTC when no time zone is given, and six fields as seconds first', () => {
    const everyTenSeconds = createSchedule({ cron: '*/10 * * * * *' }, 'source "s"');
    expect(everyTenSeconds.text).toBe('cron */10 * * * * * (UTC)');
    expect(everyTenSeconds.next(at('2026-11-30T12:00:03Z'))).toBe(at('2026-11-30T12:00:10Z'));
    // Strictly after: a run at the exact firing time is not due again at once.
    expect(everyTenSeconds.next(at('2026-11-30T12:00:10Z'))).toBe(at('2026-11-30T12:00:20Z'));
  });

  it('runs an interval from the time it is asked', () => {
    const s = createSchedule({ every: '30s' }, 'source "s"');
    expect(s.text).toBe('every 30s');
    expect(s.next(1_000)).toBe(31_000);
    expect(createSchedule({ every: 250 }, 'source "s"').text).toBe('every 250ms');
  });

  it('refuses what cannot be a schedule, naming the source', () => {
    expect(() => createSchedule({ every: '10ms' }, 'source "s"')).toThrow(/source "s": a schedule runs at most every 100ms/);
    expect(() => createSchedule({ every: 'soon' }, 'source "s"')).toThrow();
    expect(() => createSchedule({ cron: '61 * * * *' }, 'source "s"')).toThrow(ConfigError);
    expect(() => createSchedule({ cron: '0 0 31 4 *' }, 'source "s"')).toThrow(/never fires/);
  });
});

describe('backoffDelay', () => {
  it('starts at 5 s, doubles, and stops at 10 min', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n))).toEqual([5_000, 10_000, 20_000, 40_000]);
    expect(backoffDelay(8)).toBe(600_000);
    expect(backoffDelay(50)).toBe(600_000);
  });

  it('follows the source’s own settings', () => {
    expect([1, 2, 3].map((n) => backoffDelay(n, { initialMs: 100, maxMs: 250 }))).toEqual([100, 200, 250]);
  });
});
