// A monitor of an outside service: either Confluo calls it (http) on a
// schedule, or it beats on its own (push) and Confluo notices when the beats
// stop. Options are checked and their defaults merged here, once; the runner
// and the state machine read only the resolved `Monitor`.
import { ConfigError } from '../errors/index.js';

/** Too many changes in a short time: announce `flapping` once instead of each change. */
export interface FlappingOptions {
  /** More than this many transitions within `windowMs` is flapping. @defaultValue 5 */
  transitions?: number;
  /** @defaultValue 600000 (10 minutes) */
  windowMs?: number;
}

/** What an http answer's body must say, besides a 2xx status. */
export type HttpExpectation =
  /** The JSON body's value at a dotted path (`a.b.c`; array indexes as numbers) equals `equals` (deeply). */
  | { json: { path: string; equals: unknown } }
  /** The body (its first 64 KiB) contains this text. */
  | { contains: string }
  /** The body (its first 64 KiB) does not contain this text. */
  | { notContains: string };

interface CommonOptions {
  /** Unique among monitors, as integration names: `/^[a-z0-9][a-z0-9._-]*$/`. */
  name: string;
  /** While a state other than `up` holds, announce it again this often. @defaultValue never */
  remindEveryMs?: number;
  /** @defaultValue { transitions: 5, windowMs: 600000 }; `false` announces every change */
  flapping?: FlappingOptions | false;
}

export interface HttpMonitorOptions extends CommonOptions {
  kind: 'http';
  /** An http(s) URL, called under the hub's outbound policy. */
  url: string;
  /** Between checks; at least 1000. @defaultValue 10000 (the monitoring service Confluo replaces) */
  intervalMs?: number;
  /** No answer within this is `down`; below `intervalMs`. @defaultValue 5000 (or half the interval, when shorter) */
  timeoutMs?: number;
  /** A 2xx answer slower than this is `degraded`; below `timeoutMs`. @defaultValue never degraded */
  slowMs?: number;
  /** @defaultValue 'GET' */
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** A condition on the body; not met is `error`. @defaultValue none */
  expect?: HttpExpectation;
}

export interface PushMonitorOptions extends CommonOptions {
  kind: 'push';
  /** How often the service beats; at least 1000. Without a beat for this long it is `late`. */
  intervalMs: number;
  /** After `late`, this much longer without a beat is `down`. @defaultValue intervalMs */
  graceMs?: number;
}

export type MonitorOptions = HttpMonitorOptions | PushMonitorOptions;

interface CommonMonitor {
  readonly name: string;
  readonly intervalMs: number;
  readonly remindEveryMs: number | undefined;
  readonly flapping: Readonly<Required<FlappingOptions>> | false;
}

export interface HttpMonitor extends CommonMonitor {
  readonly kind: 'http';
  readonly url: string;
  readonly timeoutMs: number;
  readonly slowMs: number | undefined;
  readonly method: 'GET' | 'HEAD';
  readonly headers: Readonly<Record<string, string>>;
  readonly expect: HttpExpectation | undefined;
}

export interface PushMonitor extends CommonMonitor {
  readonly kind: 'push';
  readonly graceMs: number;
}

export type Monitor = HttpMonitor | PushMonitor;

const NAME = /^[a-z0-9][a-z0-9._-]*$/;
export const MIN_INTERVAL_MS = 1000;

/** A whole number of milliseconds from `min`, or a ConfigError naming the monitor and the field. */
function millis(where: string, field: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ConfigError(`${where}: ${field} must be a whole number of milliseconds from ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function flappingOf(where: string, options: FlappingOptions | false | undefined): CommonMonitor['flapping'] {
  if (options === false) return false;
  const transitions = options?.transitions ?? 5;
  if (!Number.isInteger(transitions) || transitions < 1) throw new ConfigError(`${where}: flapping.transitions must be a whole number from 1, got ${JSON.stringify(transitions)}`);
  return { transitions, windowMs: millis(where, 'flapping.windowMs', options?.windowMs ?? 600_000, MIN_INTERVAL_MS) };
}

function expectationOf(where: string, expect: HttpExpectation | undefined): HttpExpectation | undefined {
  if (expect === undefined) return undefined;
  const keys = typeof expect === 'object' && expect !== null ? Object.keys(expect) : [];
  if (keys.length !== 1) throw new ConfigError(`${where}: expect must be exactly one of { json: { path, equals } }, { contains }, { notContains }`);
  if ('json' in expect) {
    const path = expect.json?.path;
    if (typeof path !== 'string' || path.split('.').some((segment) => segment === '')) {
      throw new ConfigError(`${where}: expect.json.path must be a dotted path such as "checks.db.status", got ${JSON.stringify(path)}`);
    }
    if (!('equals' in expect.json)) throw new ConfigError(`${where}: expect.json needs the value to compare with (equals)`);
    return { json: { path, equals: expect.json.equals } };
  }
  const [key] = keys;
  const text = (expect as Record<string, unknown>)[key as string];
  if ((key !== 'contains' && key !== 'notContains') || typeof text !== 'string' || text === '') {
    throw new ConfigError(`${where}: expect.${key} is not a condition: use { json: { path, equals } }, { contains: 'text' } or { notContains: 'text' }`);
  }
  return key === 'contains' ? { contains: text } : { notContains: text };
}

function httpMonitor(where: string, options: HttpMonitorOptions, common: Omit<CommonMonitor, 'intervalMs'>): HttpMonitor {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new ConfigError(`${where}: url must be an http(s) URL, got ${JSON.stringify(options.url)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${where}: url must be an http(s) URL, got "${url.protocol}"`);
  const intervalMs = millis(where, 'intervalMs', options.intervalMs ?? 10_000, MIN_INTERVAL_MS);
  const timeoutMs = millis(where, 'timeoutMs', options.timeoutMs ?? Math.min(5000, Math.floor(intervalMs / 2)), 1);
  if (timeoutMs >= intervalMs) throw new ConfigError(`${where}: timeoutMs (${timeoutMs}) must be below intervalMs (${intervalMs})`);
  const slowMs = options.slowMs === undefined ? undefined : millis(where, 'slowMs', options.slowMs, 1);
  if (slowMs !== undefined && slowMs >= timeoutMs) throw new ConfigError(`${where}: slowMs (${slowMs}) must be below timeoutMs (${timeoutMs}): a slower answer is a timeout`);
  const method = options.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') throw new ConfigError(`${where}: method must be GET or HEAD, got ${JSON.stringify(method)}`);
  const expect = expectationOf(where, options.expect);
  if (expect && method === 'HEAD') throw new ConfigError(`${where}: expect reads the body, which a HEAD answer has not: use method GET`);
  return { ...common, kind: 'http', url: url.href, intervalMs, timeoutMs, slowMs, method, headers: { ...options.headers }, expect };
}

export function defineMonitor(options: MonitorOptions): Monitor {
  const name: unknown = options.name;
  if (typeof name !== 'string' || !NAME.test(name)) throw new ConfigError(`monitor name ${JSON.stringify(name)} must match ${NAME}`);
  const where = `monitor "${name}"`;
  const common = {
    name,
    remindEveryMs: options.remindEveryMs === undefined ? undefined : millis(where, 'remindEveryMs', options.remindEveryMs, MIN_INTERVAL_MS),
    flapping: flappingOf(where, options.flapping),
  };
  const kind: unknown = options.kind;
  if (kind === 'http') return Object.freeze(httpMonitor(where, options as HttpMonitorOptions, common));
  if (kind === 'push') {
    const push = options as PushMonitorOptions;
    const intervalMs = millis(where, 'intervalMs', push.intervalMs, MIN_INTERVAL_MS);
    return Object.freeze({ ...common, kind: 'push', intervalMs, graceMs: millis(where, 'graceMs', push.graceMs ?? intervalMs, 0) });
  }
  throw new ConfigError(`${where}: kind must be "http" or "push", got ${JSON.stringify(kind)}`);
}
