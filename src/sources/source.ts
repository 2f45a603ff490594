// A source: a driver that fetches pages, a schedule, and how each fetched item
// becomes an event of the flow. Items are checked here, before anything is
// stored: a bad item goes to the source's rejected list and the run goes on.
// The item schema types `id`, `map` and `flowId`; the event type it emits types
// what `map` returns.
import type { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import type { EventType } from '../flow/event-type.js';
import type { Json } from '../store/types.js';
import { createSchedule, type BackoffOptions, type Schedule, type ScheduleOptions } from './schedule.js';
import type { SourceDriver } from './source-driver.js';

export interface SourceOptions<T extends EventType = EventType, I extends z.ZodType = z.ZodType<unknown>, R extends z.input<T['payload']> = z.input<T['payload']>> {
  /** Unique; part of every event id this source makes (`<name>:<item id>`). */
  name: string;
  driver: SourceDriver<unknown, Json>;
  schedule: ScheduleOptions;
  /**
   * Also run once when the process starts.
   * @defaultValue false
   */
  runAtStart?: boolean;
  /** Checks each item as read; one that fails is rejected with the field errors. */
  item?: I;
  /** The event type items become; it must be in the hub's flow. */
  emits: T;
  /** The item's own id, stable across reads: with the source name it is the event id, so re-reads deduplicate. */
  id: (item: z.output<I>) => string;
  /**
   * The event payload for an item, or null to pass over it (counted as skipped, not rejected).
   * @defaultValue the item itself
   */
  map?: (item: z.output<I>) => R | null;
  /** The flow id of the item's event. @defaultValue the run id, so one run's events trace together */
  flowId?: (item: z.output<I>) => string;
  /** Failed runs try again after 5 s, 10 s, 20 s, … up to 10 min, but never sooner than the schedule. */
  backoff?: BackoffOptions;
  /**
   * Pages one run commits at most; the rest waits for the next run, started at once.
   * @defaultValue 1000
   */
  maxPagesPerRun?: number;
  /** A reason not to run it (e.g. a missing setting); the hub logs it at start. */
  disabled?: string | false;
}

export interface Source {
  readonly name: string;
  readonly driver: SourceDriver<unknown, Json>;
  readonly schedule: Schedule;
  readonly runAtStart: boolean;
  readonly item: z.ZodType | undefined;
  readonly emits: EventType;
  readonly id: (item: unknown) => string;
  readonly map: (item: unknown) => unknown;
  readonly flowId: ((item: unknown) => string) | undefined;
  readonly backoff: BackoffOptions;
  readonly maxPagesPerRun: number;
  readonly disabled: string | false;
}

const NAME = /^[a-z0-9][a-z0-9._-]*$/;

// R is what map returns, inferred `const` so that literals (`status: 'active'`) are checked against the payload's enums, not widened to string first.
export function defineSource<T extends EventType, I extends z.ZodType = z.ZodType<unknown>, const R extends z.input<T['payload']> = z.input<T['payload']>>(
  options: SourceOptions<T, I, R>,
): Source {
  if (!NAME.test(options.name)) throw new ConfigError(`source name "${options.name}" must match ${NAME}`);
  const where = `source "${options.name}"`;
  if (options.maxPagesPerRun !== undefined && !(Number.isInteger(options.maxPagesPerRun) && options.maxPagesPerRun >= 1)) {
    throw new ConfigError(`${where}: maxPagesPerRun must be a whole number from 1`);
  }
  return {
    name: options.name,
    driver: options.driver,
    schedule: createSchedule(options.schedule, where),
    runAtStart: options.runAtStart ?? false,
    item: options.item,
    emits: options.emits,
    id: options.id as (item: unknown) => string,
    map: (options.map ?? ((item: unknown) => item)) as (item: unknown) => unknown,
    flowId: options.flowId as ((item: unknown) => string) | undefined,
    backoff: options.backoff ?? {},
    maxPagesPerRun: options.maxPagesPerRun ?? 1000,
    disabled: options.disabled ?? false,
  };
}
