// An integration subscribes to changes of an entity (optionally only when
// given parts changed) or to processed events by name, maps each one to a
// request (or says skip, which is recorded as ignored) and hands it to a sink.
import type { Entity, EntityParts } from '../flow/entity.js';
import type { DeliveryRequest, Delivery } from '../store/delivery-types.js';
import type { FieldDiff, ProcessedResult } from '../store/types.js';
import type { RetryOptions } from './retry-policy.js';
import type { Sink } from './sink.js';

export interface ChangeInput<E extends Entity = Entity> {
  kind: 'change';
  entity: string;
  key: string;
  version: number;
  changedParts: string[];
  diffs: FieldDiff[];
  /** The whole record after the change. */
  record: EntityParts<E>;
  cause: { eventId: string; flowId: string; rule: string };
  at: Date;
}

export interface EventInput {
  kind: 'event';
  name: string;
  version: number;
  eventId: string;
  flowId: string;
  entity: string;
  key: string;
  payload: unknown;
  result: ProcessedResult;
  at: Date;
}

export interface Skip {
  skip: string;
}

/** Say "nothing to send for this one"; the delivery is kept as `ignored` with the reason. */
export const skip = (reason = 'skipped by the mapping'): Skip => ({ skip: reason });
export const isSkip = (value: unknown): value is Skip => typeof value === 'object' && value !== null && typeof (value as Skip).skip === 'string';

export type Subscription<E extends Entity> = { entity: E; parts?: ReadonlyArray<keyof E['parts'] & string> } | { events: readonly string[] };

type InputOf<S> = S extends { entity: infer E extends Entity } ? ChangeInput<E> : EventInput;

export interface DigestOptions {
  /** Window length; windows are aligned to the epoch (5 min → :00, :05, …). */
  windowMs: number;
  /** Folds the bodies the mapping returned during one window into one request, or skips. */
  fold: (items: unknown[], window: { start: Date; end: Date }) => DeliveryRequest | Skip;
}

export interface AutoDisableOptions {
  /**
   * Disable once the integration has failed without a single success for this long.
   * @defaultValue 5 days (as Svix)
   */
  afterMs?: number;
  /** ...and at least this many failed attempts in a row. @defaultValue 10 */
  minFailures?: number;
}

export interface IntegrationOptions<S extends Subscription<Entity>> {
  /** Unique; appears in the API and the delivery log. */
  name: string;
  on: S;
  map: (input: InputOf<S>) => DeliveryRequest | Skip;
  sink: Sink;
  /** @defaultValue the Standard Webhooks schedule, 8 attempts */
  retry?: RetryOptions;
  /**
   * Deliver changes of one key in order: a later one waits while an earlier one retries.
   * @defaultValue false
   */
  ordered?: boolean;
  /** Deliveries in flight at once. @defaultValue 8 */
  concurrency?: number;
  /** At most `max` deliveries started per `perMs`. @defaultValue unlimited */
  rateLimit?: { max: number; perMs: number };
  /** Per attempt. @defaultValue 15000 */
  timeoutMs?: number;
  /** @defaultValue { afterMs: 5 days, minFailures: 10 }; `false` never disables */
  autoDisable?: AutoDisableOptions | false;
  /** Fold everything of a time window into one delivery. */
  digest?: DigestOptions;
  onSuccess?: (delivery: Delivery) => void | Promise<void>;
  /** Called when a delivery fails for good or dies out of retries. */
  onFailure?: (delivery: Delivery, error: string) => void | Promise<void>;
  /** A reason not to run it (e.g. a missing URL); the hub logs it at start. */
  disabled?: string | false;
}

export interface Integration {
  readonly name: string;
  readonly on: { entity: string; parts?: readonly string[] } | { events: readonly string[] };
  readonly map: (input: ChangeInput | EventInput) => DeliveryRequest | Skip;
  readonly sink: Sink;
  readonly retry: RetryOptions;
  readonly ordered: boolean;
  readonly concurrency: number;
  readonly rateLimit: { max: number; perMs: number } | undefined;
  readonly timeoutMs: number;
  readonly autoDisable: Required<AutoDisableOptions> | false;
  readonly digest: DigestOptions | undefined;
  readonly onSuccess: IntegrationOptions<Subscription<Entity>>['onSuccess'];
  readonly onFailure: IntegrationOptions<Subscription<Entity>>['onFailure'];
  readonly disabled: string | false;
}

const NAME = /^[a-z0-9][a-z0-9._-]*$/;

export function defineIntegration<const S extends Subscription<Entity>>(options: IntegrationOptions<S>): Integration {
  if (!NAME.test(options.name)) throw new RangeError(`integration name "${options.name}" must match ${NAME}`);
  const subscription = options.on as Subscription<Entity>;
  let on: Integration['on'];
  if ('entity' in subscription) {
    on = subscription.parts ? { entity: subscription.entity.name, parts: subscription.parts } : { entity: subscription.entity.name };
  } else {
    if (subscription.events.length === 0) throw new RangeError(`integration "${options.name}" subscribes to no events`);
    on = { events: subscription.events };
  }
  if (options.concurrency !== undefined && (!Number.isInteger(options.concurrency) || options.concurrency < 1)) {
    throw new RangeError(`integration "${options.name}": concurrency must be a whole number from 1`);
  }
  if (options.digest && !(options.digest.windowMs >= 1000)) throw new RangeError(`integration "${options.name}": a digest window is at least 1 s`);
  return {
    name: options.name,
    on,
    map: options.map as Integration['map'],
    sink: options.sink,
    retry: options.retry ?? {},
    ordered: options.ordered ?? false,
    concurrency: options.concurrency ?? 8,
    rateLimit: options.rateLimit,
    timeoutMs: options.timeoutMs ?? 15_000,
    autoDisable: options.autoDisable === false ? false : { afterMs: 5 * 86_400_000, minFailures: 10, ...options.autoDisable },
    digest: options.digest,
    onSuccess: options.onSuccess,
    onFailure: options.onFailure,
    disabled: options.disabled ?? false,
  };
}
