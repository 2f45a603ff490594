// When a source runs: a cron pattern in a time zone (croner), or a fixed
// interval. Failed runs back off exponentially, but never run sooner than
// the schedule would.
import { Cron } from 'croner';
import { ConfigError } from '../errors/index.js';
import { parseDuration } from '../delivery/duration.js';

export type ScheduleOptions =
  /** `every: '30s'` or milliseconds. */
  | { every: string | number }
  /** Five or six fields (seconds first when six); `timezone` is an IANA name. @defaultValue timezone 'UTC' */
  | { cron: string; timezone?: string };

export interface Schedule {
  /** As shown in the API, e.g. `every 30s` or `cron 0 * * * * (America/Sao_Paulo)`. */
  readonly text: string;
  /** The first run time strictly after `now`; null when the schedule never fires again (manual runs only). */
  next(now: number): number | null;
}

export interface BackoffOptions {
  /** @defaultValue 5000 */
  initialMs?: number;
  /** @defaultValue 600000 (10 min) */
  maxMs?: number;
}

export function createSchedule(options: ScheduleOptions, where: string): Schedule {
  if ('every' in options) {
    const ms = typeof options.every === 'number' ? options.every : parseDuration(options.every);
    if (!Number.isFinite(ms) || ms < 100) throw new ConfigError(`${where}: a schedule runs at most every 100ms, got ${String(options.every)}`);
    const text = typeof options.every === 'number' ? `every ${ms}ms` : `every ${options.every}`;
    return { text, next: (now) => now + ms };
  }
  const timezone = options.timezone ?? 'UTC';
  let cron: Cron;
  let first: Date | null;
  try {
    cron = new Cron(options.cron, { timezone, paused: true });
    first = cron.nextRun();
  } catch (error) {
    throw new ConfigError(`${where}: cron schedule "${options.cron}" (${timezone}) is not valid: ${(error as Error).message}`);
  }
  if (first === null) throw new ConfigError(`${where}: cron schedule "${options.cron}" (${timezone}) never fires (e.g. a day that does not exist)`);
  return {
    text: `cron ${options.cron} (${timezone})`,
    next(now) {
      // A pattern bound to a year that has passed fires no more: the source is left to manual runs.
      return cron.nextRun(new Date(now))?.getTime() ?? null;
    },
  };
}

/** When to try again after `failures` failed runs in a row. */
export function backoffDelay(failures: number, options: BackoffOptions = {}): number {
  const initial = options.initialMs ?? 5000;
  const max = options.maxMs ?? 600_000;
  return Math.min(max, initial * 2 ** Math.max(0, failures - 1));
}
