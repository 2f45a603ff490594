// Durations as people write them in configuration: `250ms`, `5s`, `30m`, `2h`, `1d`.
import { ConfigError } from '../errors/index.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(text);
  if (!match) throw new ConfigError(`"${text}" is not a duration: write a number and a unit (ms, s, m, h, d), e.g. 5s or 30m`);
  return Math.round(Number(match[1]) * (UNITS[match[2] as string] as number));
}

/** A comma-separated list, e.g. a retry schedule `0s,1s,2s`. */
export function parseDurationList(text: string): number[] {
  const items = text.split(',').map((t) => t.trim()).filter(Boolean);
  if (items.length === 0) throw new ConfigError(`"${text}" lists no durations`);
  return items.map(parseDuration);
}
