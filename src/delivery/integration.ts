// An integration subscribes to changes of an entity (optionally only when
// given parts changed), to processed events, or to the transitions of
// monitors; maps each one to a request (or says skip, which is recorded as
// ignored) and hands it to a sink. The
// subscription names the flow's own objects, so `map` and a digest's `fold`
// are typed from the flow; names given as strings are checked when the hub starts.
import type { z } from 'zod';
import type { Entity, EntityParts } from '../flow/entity.js';
import { eventTypeId, type EventType } from '../flow/event-type.js';
import type { DeliveryRequest, Delivery } from '../store/delivery-types.js';
import type { MonitorKind, MonitorState } from '../store/health-types.js';
import type { FieldDiff, ProcessedResult } from '../store/types.js';
import type { RetryOptions } from './retry-policy.js';
import type { Sink } from './sink.js';

type PartName<E extends Entity> = keyof E['parts'] & string;

export interface ChangeInput<E extends Entity = Entity> {
  kind: 'change';
  entity: string;
  key: string;
  version: number;
  changedParts: Array<PartName<E>>;
  diffs: FieldDiff[];
  /** The whole record after the change. */
  record: EntityParts<E>;
  cause: { eventId: string; flowId: string; rule: string };
  at: Date;
}

export interface EventInput<N extends string = string, P = unknown> {
  kind: 'event';
  name: N;
  version: number;
  eventId: string;
  flowId: string;
  entity: string;
  key: string;
  /** As accepted (the schema's input type): transforms and defaults apply only inside rules. */
  payload: P;
  result: ProcessedResult;
  at: Date;
}

/** A monitor changed state (or, `reminder: true`, still holds a state worth repeating). */
export interface MonitorInput {
  kind: 'monitor';
  /** The monitor's name; the hub's own processes are `process:<id>`. */
  monitor: string;
  monitorKind: MonitorKind;
  from: MonitorState;
  to: MonitorState;
  reminder: boolean;
  /** The transition's id (a reminder repeats its transition's). */
  transitionId: number;
  /** When this was announced: the transition, or the reminder. */
  at: Date;
  /** Since when `to` holds. */
  since: Date;
  /** What the check or beat said (`connection refused`, `HTTP 503`, a push beat's message). */
  message: string | null;
  /** The check's details (status, durationMs) or a push beat's `details`. */
  details: unknown;
}

export interface Skip {
  skip: string;
}

/** Say "nothing to send for this one"; the delivery is kept as `ignored` with the reason. */
export const skip = (reason = 'skipped by the mapping'): Skip => ({ skip: reason });
export const isSkip = (value: unknown): value is Skip => typeof value === 'object' && value !== null && typeof (value as Skip).skip === 'string';

/**
 * An event to listen to: the flow's event type (that version only, payload typed), or an event
 * name (every version, payload `unknown`).
 */
export type EventRef = EventType | string;

/**
 * Changes of an entity (only those touching one of `parts`, when given), processed events, or the
 * transitions of monitors (`'all'`: every configured monitor and the hub's own processes). Every
 * part, event and monitor is checked when the hub starts.
 */
export type Subscription = { entity: Entity; parts?: readonly string[] } | { events: readonly EventRef[] } | { monitors: readonly string[] | 'all' };

/** Refuses, at compile time, parts the subscribed entity does not have. */
type KnownParts<S> = S extends { entity: infer E extends Entity } ? { parts?: ReadonlyArray<PartName<E>> } : unknown;

type EventInputOf<R> = R extends EventType<Entity, infer S, infer N> ? EventInput<N, z.input<S>> : R extends string ? EventInput<R> : never;

/** What `map` gets for a subscription: a change of its entity, one of its events (narrow by `name`), or a monitor's transition. */
type InputOf<S extends Subscription> = S extends { entity: infer E extends Entity }
  ? ChangeInput<E>
  : S extends { events: readonly (infer R)[] }
    ? EventInputOf<R>
    : S extends { monitors: unknown }
      ? MonitorInput
      : never;

export interface DigestOptions<Body = unknown> {
  /** Window length; windows are aligned to the epoch (5 min → :00, :05, …). */
  windowMs: number;
  /** Folds the bodies the mapping returned during one window (as stored, JSON) into one request, or skips. */
  fold: (items: Body[], window: { start: Date; end: Date }) => DeliveryRequest | Skip;
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

/** The body type of the requests a mapping returns (its skips left out). */
type BodyOf<M> = M extends DeliveryRequest<infer B> ? B : never;

export interface IntegrationOptions<S extends Subscription, M extends DeliveryRequest | Skip = DeliveryRequest | Skip> {
  /** Unique; appears in the API and the delivery log. */
  name: string;
  on: S & KnownParts<S>;
  map: (input: InputOf<S>) => M;
  sink: Sink;
  /** @defaultValue the Standard Webhooks schedule, 8 attempts */
  retry?: RetryOptions;
  /**
   * Deliver changes of one key in order: a later one waits while an earlier one retries.
   * @defaultValue false
   */
  ordered?: boolean;
  /**
   * Requests to the system in flight at once. An answered attempt frees its slot before its
   * outcome is written; up to 4 per slot may wait for that write. @defaultValue 8
   */
  concurrency?: number;
  /** At most `max` deliveries started per `perMs`. @defaultValue unlimited */
  rateLimit?: { max: number; perMs: number };
  /** Per attempt. @defaultValue 15000 */
  timeoutMs?: number;
  /** @defaultValue { afterMs: 5 days, minFailures: 10 }; `false` never disables */
  autoDisable?: AutoDisableOptions | false;
  /** Fold everything of a time window into one delivery (not for monitors: each transition is told on its own). */
  digest?: DigestOptions<BodyOf<M>>;
  onSuccess?: (delivery: Delivery) => void | Promise<void>;
  /** Called when a delivery fails for good or dies out of retries. */
  onFailure?: (delivery: Delivery, error: string) => void | Promise<void>;
  /** A reason not to run it (e.g. a missing URL); the hub logs it at start. */
  disabled?: string | false;
}

export interface Integration {
  readonly name: string;
  /** Event names (every version) or `name@vN` ids (that version only); monitor names or `'all'`. */
  readonly on: { entity: string; parts?: readonly string[] } | { events: readonly string[] } | { monitors: readonly string[] | 'all' };
  readonly map: (input: ChangeInput | EventInput | MonitorInput) => DeliveryRequest | Skip;
  readonly sink: Sink;
  readonly retry: RetryOptions;
  readonly ordered: boolean;
  readonly concurrency: number;
  readonly rateLimit: { max: number; perMs: number } | undefined;
  readonly timeoutMs: number;
  readonly autoDisable: Required<AutoDisableOptions> | false;
  readonly digest: DigestOptions | undefined;
  readonly onSuccess: IntegrationOptions<Subscription>['onSuccess'];
  readonly onFailure: IntegrationOptions<Subscription>['onFailure'];
  readonly disabled: string | false;
}

const NAME = /^[a-z0-9][a-z0-9._-]*$/;

function monitorsOf(integration: string, monitors: readonly string[] | 'all'): readonly string[] | 'all' {
  if (monitors === 'all') return 'all';
  if (!Array.isArray(monitors) || monitors.length === 0) throw new RangeError(`integration "${integration}" subscribes to no monitors: list their names, or 'all'`);
  for (const name of monitors) {
    if (typeof name !== 'string' || !NAME.test(name)) throw new RangeError(`integration "${integration}" subscribes to monitor ${JSON.stringify(name)}, which is not a monitor name (${NAME})`);
  }
  return [...monitors];
}

export function defineIntegration<const S extends Subscription, M extends DeliveryRequest | Skip>(options: IntegrationOptions<S, M>): Integration {
  if (!NAME.test(options.name)) throw new RangeError(`integration name "${options.name}" must match ${NAME}`);
  const subscription: Subscription = options.on;
  let on: Integration['on'];
  if ('entity' in subscription) {
    on = subscription.parts ? { entity: subscription.entity.name, parts: subscription.parts } : { entity: subscription.entity.name };
  } else if ('monitors' in subscription) {
    on = { monitors: monitorsOf(options.name, subscription.monitors) };
    if (options.digest) throw new RangeError(`integration "${options.name}": a monitors subscription cannot have a digest: each transition is announced on its own`);
  } else {
    if (subscription.events.length === 0) throw new RangeError(`integration "${options.name}" subscribes to no events`);
    on = { events: subscription.events.map((ref) => (typeof ref === 'string' ? ref : eventTypeId(ref.name, ref.version))) };
  }
  if (options.concurrency !== undefined && (!Number.isInteger(options.concurrency) || options.concurrency < 1)) {
    throw new RangeError(`integration "${options.name}": concurrency must be a whole number from 1`);
  }
  if (options.digest && !(options.digest.windowMs >= 1000)) throw new RangeError(`integration "${options.name}": a digest window is at least 1 s`);
  // The types are erased here: the outbox hands map only inputs its subscription matched, and fold only map's bodies.
  return {
    name: options.name,
    on,
    map: options.map as unknown as Integration['map'],
    sink: options.sink,
    retry: options.retry ?? {},
    ordered: options.ordered ?? false,
    concurrency: options.concurrency ?? 8,
    rateLimit: options.rateLimit,
    timeoutMs: options.timeoutMs ?? 15_000,
    autoDisable: options.autoDisable === false ? false : { afterMs: 5 * 86_400_000, minFailures: 10, ...options.autoDisable },
    digest: options.digest as DigestOptions | undefined,
    onSuccess: options.onSuccess,
    onFailure: options.onFailure,
    disabled: options.disabled ?? false,
  };
}
