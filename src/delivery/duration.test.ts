// Durations as configuration spells them.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/index.js';
import { parseDuration, parseDurationList } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['5s', 5_000],
    ['30m', 1_800_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1.5s', 1_500],
    ['0s', 0],
    [' 5 s ', 5_000],
  ])('reads %j as %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['five', '5', '5x', '', '-5s', '5 sec', '1e3ms'])('rejects %j with a ConfigError that shows an example', (text) => {
    expect(() => parseDuration(text)).toThrow(ConfigError);
    expect(() => parseDuration(text)).toThrow(`"${text}" is not a duration: write a number and a unit (ms, s, m, h, d), e.g. 5s or 30m`);
  });
});

describe('parseDurationList', () => {
  it('reads a comma-separated schedule', () => {
    expect(parseDurationList('0s,1s,2s')).toEqual([0, 1_000, 2_000]);
    expect(parseDurationList(' 0s , 5m ,2h')).toEqual([0, 300_000, 7_200_000]);
  });

  it('throws for a list without durations', () => {
    expect(() => parseDurationList('')).toThrow(ConfigError);
    expect(() => parseDurationList(' , ')).toThrow('" , " lists no durations');
  });

  it('names the bad item of a list', () => {
    expect(() => parseDurationList('1s,soon')).toThrow('"soon" is not a duration');
  });
});
