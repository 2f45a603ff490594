// defineMonitor: defaults merged once, and every bad option refused with the
// monitor and the field named.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/index.js';
import { defineMonitor, type MonitorOptions } from './monitor.js';

const http = (extra: Partial<Extract<MonitorOptions, { kind: 'http' }>> = {}): MonitorOptions => ({ name: 'crm', kind: 'http', url: 'http://127.0.0.1:9100/health', ...extra });

describe('defineMonitor', () => {
  it('gives an http monitor the defaults of the service it replaces: every 10 s, 5 s timeout, flapping at 5 in 10 min', () => {
    expect(defineMonitor(http())).toEqual({
      name: 'crm',
      kind: 'http',
      url: 'http://127.0.0.1:9100/health',
      intervalMs: 10_000,
      timeoutMs: 5000,
      slowMs: undefined,
      method: 'GET',
      headers: {},
      expect: undefined,
      remindEveryMs: undefined,
      flapping: { transitions: 5, windowMs: 600_000 },
    });
  });

  it('keeps the default timeout below a short interval', () => {
    expect(defineMonitor(http({ intervalMs: 1000 }))).toMatchObject({ intervalMs: 1000, timeoutMs: 500 });
  });

  it('gives a push monitor a grace as long as its interval, and may turn flapping off', () => {
    expect(defineMonitor({ name: 'nightly-export', kind: 'push', intervalMs: 3_600_000, flapping: false })).toEqual({
      name: 'nightly-export',
      kind: 'push',
      intervalMs: 3_600_000,
      graceMs: 3_600_000,
      remindEveryMs: undefined,
      flapping: false,
    });
  });

  it.each<[string, MonitorOptions, RegExp]>([
    ['a name with a colon (reserved for the hub\'s processes)', http({ name: 'process:abc' }), /monitor name "process:abc" must match/],
    ['an interval under 1 s', http({ intervalMs: 500 }), /monitor "crm": intervalMs must be a whole number of milliseconds from 1000, got 500/],
    ['a timeout not below the interval', http({ intervalMs: 2000, timeoutMs: 2000 }), /monitor "crm": timeoutMs \(2000\) must be below intervalMs \(2000\)/],
    ['slowMs not below the timeout', http({ timeoutMs: 1000, slowMs: 1500 }), /monitor "crm": slowMs \(1500\) must be below timeoutMs/],
    ['a URL that is not http', http({ url: 'ftp://example.com' }), /monitor "crm": url must be an http\(s\) URL, got "ftp:"/],
    ['no URL at all', http({ url: 'not a url' }), /monitor "crm": url must be an http\(s\) URL/],
    ['a POST', http({ method: 'POST' as 'GET' }), /monitor "crm": method must be GET or HEAD/],
    ['an expectation of a HEAD', http({ method: 'HEAD', expect: { contains: 'ok' } }), /monitor "crm": expect reads the body/],
    ['two expectations at once', http({ expect: { contains: 'a', notContains: 'b' } as never }), /monitor "crm": expect must be exactly one of/],
    ['a JSON path with an empty segment', http({ expect: { json: { path: 'a..b', equals: 1 } } }), /monitor "crm": expect.json.path must be a dotted path/],
    ['a push monitor without an interval', { name: 'job', kind: 'push' } as never, /monitor "job": intervalMs must be a whole number of milliseconds from 1000, got undefined/],
    ['a negative grace', { name: 'job', kind: 'push', intervalMs: 1000, graceMs: -1 }, /monitor "job": graceMs must be a whole number of milliseconds from 0/],
    ['flapping at zero transitions', http({ flapping: { transitions: 0 } }), /monitor "crm": flapping.transitions must be a whole number from 1/],
    ['reminders more often than each second', http({ remindEveryMs: 10 }), /monitor "crm": remindEveryMs must be/],
    ['an unknown kind', { name: 'x', kind: 'ping' } as never, /monitor "x": kind must be "http" or "push", got "ping"/],
  ])('refuses %s', (_what, options, message) => {
    const attempt = () => defineMonitor(options);
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
  });
});
