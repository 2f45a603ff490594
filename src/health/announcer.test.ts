// Announcements: one delivery per integration subscribed to the monitor, with
// the transition as the mapping's typed input; a skip is kept as ignored, a
// mapping that throws as failed. Monitor subscriptions are not changes.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/index.js';
import { defineIntegration, skip, type MonitorInput } from '../delivery/integration.js';
import { createOutbox } from '../delivery/outbox.js';
import { functionSink } from '../delivery/sinks/function-sink.js';
import { checkMonitorSubscription } from '../delivery/subscription-check.js';
import type { MonitorTransition } from '../store/health-types.js';
import type { InboxEvent } from '../store/types.js';
import { createAnnouncer } from './announcer.js';
import { defineMonitor } from './monitor.js';

const sink = functionSink(async () => undefined);
const crm = defineMonitor({ name: 'crm', kind: 'http', url: 'http://127.0.0.1:9100/health' });
const job = defineMonitor({ name: 'job', kind: 'push', intervalMs: 60_000 });
const T = 1_700_000_000_000;
const down: MonitorTransition = { id: 7, monitor: 'crm', from: 'up', to: 'down', at: T, message: 'connection refused', details: { durationMs: 3 }, announced: true };

describe('createAnnouncer', () => {
  it('gives each subscribed integration a pending delivery of what its mapping made of the transition', () => {
    const seen: MonitorInput[] = [];
    const slack = defineIntegration({
      name: 'slack',
      on: { monitors: ['crm'] },
      map: (input) => {
        seen.push(input);
        return { body: { text: `${input.monitor}: ${input.from} → ${input.to} (${input.message})` } };
      },
      sink,
    });
    const everything = defineIntegration({ name: 'pager', on: { monitors: 'all' }, map: (input) => ({ body: input.to }), sink });
    const other = defineIntegration({ name: 'other', on: { monitors: ['job'] }, map: () => ({ body: 1 }), sink });
    const deliveries = createAnnouncer([slack, everything, other], [crm, job])(down, false);
    expect(deliveries).toMatchObject([
      { integration: 'slack', kind: 'monitor', entity: 'monitor', key: 'crm', eventId: 'transition:7', version: null, createdAt: T, status: 'pending', request: { body: { text: 'crm: up → down (connection refused)' } } },
      { integration: 'pager', kind: 'monitor', key: 'crm', eventId: 'transition:7', status: 'pending', request: { body: 'down' } },
    ]);
    expect(deliveries[0]!.deliveryId).toMatch(/^msg_/);
    expect(deliveries[0]!.deliveryId).not.toBe(deliveries[1]!.deliveryId);
    expect(seen).toEqual([
      { kind: 'monitor', monitor: 'crm', monitorKind: 'http', from: 'up', to: 'down', reminder: false, transitionId: 7, at: new Date(T), since: new Date(T), message: 'connection refused', details: { durationMs: 3 } },
    ]);
  });

  it('dates a reminder when it is made, with an event id of its own, since the transition', () => {
    const pager = defineIntegration({ name: 'pager', on: { monitors: 'all' }, map: (input) => ({ body: input }), sink });
    const [reminder] = createAnnouncer([pager], [crm], () => T + 60_000)(down, true);
    expect(reminder).toMatchObject({ eventId: `transition:7:reminder:${T + 60_000}`, createdAt: T + 60_000 });
    expect(reminder!.request!.body).toMatchObject({ reminder: true, at: new Date(T + 60_000), since: new Date(T) });
  });

  it("tells 'all' of the hub's own processes going down", () => {
    const pager = defineIntegration({ name: 'pager', on: { monitors: 'all' }, map: (input) => ({ body: input.monitorKind }), sink });
    const named = defineIntegration({ name: 'named', on: { monitors: ['crm'] }, map: () => ({ body: 1 }), sink });
    const deliveries = createAnnouncer([pager, named], [crm])({ ...down, monitor: 'process:p1' }, false);
    expect(deliveries).toMatchObject([{ integration: 'pager', key: 'process:p1', request: { body: 'process' } }]);
  });

  it('keeps a skip as ignored and a throwing mapping as failed, and leaves disabled integrations out', () => {
    const quiet = defineIntegration({ name: 'quiet', on: { monitors: ['crm'] }, map: () => skip('only outages'), sink });
    const broken = defineIntegration({ name: 'broken', on: { monitors: ['crm'] }, map: () => { throw new Error('boom'); }, sink });
    const off = defineIntegration({ name: 'off', on: { monitors: ['crm'] }, map: () => ({ body: 1 }), sink, disabled: 'no URL' });
    expect(createAnnouncer([quiet, broken, off], [crm])(down, false)).toMatchObject([
      { integration: 'quiet', status: 'ignored', reason: 'only outages', request: undefined },
      { integration: 'broken', status: 'failed', reason: 'mapping threw: boom', request: undefined },
    ]);
  });
});

describe('monitor subscriptions', () => {
  it('are refused with a digest, or with no monitors', () => {
    expect(() => defineIntegration({ name: 'd', on: { monitors: ['crm'] }, map: () => ({ body: 1 }), sink, digest: { windowMs: 60_000, fold: () => ({ body: 1 }) } })).toThrow(
      /integration "d": a monitors subscription cannot have a digest/,
    );
    expect(() => defineIntegration({ name: 'e', on: { monitors: [] }, map: () => ({ body: 1 }), sink })).toThrow(/integration "e" subscribes to no monitors/);
  });

  it('name monitors the hub runs', () => {
    const names = new Set(['crm', 'job']);
    const typo = defineIntegration({ name: 'slack', on: { monitors: ['crm', 'biling'] }, map: () => ({ body: 1 }), sink });
    expect(() => checkMonitorSubscription(typo, names)).toThrow(ConfigError);
    expect(() => checkMonitorSubscription(typo, names)).toThrow('integration "slack" subscribes to monitor "biling", which the hub does not run (it has: crm, job)');
    expect(() => checkMonitorSubscription(defineIntegration({ name: 'all', on: { monitors: 'all' }, map: () => ({ body: 1 }), sink }), new Set())).not.toThrow();
  });

  it('are no business of the outbox: no change or event reaches them', () => {
    const pager = defineIntegration({ name: 'pager', on: { monitors: 'all' }, map: () => ({ body: 1 }), sink });
    const event = { eventId: 'e1', name: 'thing:bumped', version: 1, flowId: 'f', entity: 'thing', key: 'k', envelope: { payload: {} } } as unknown as InboxEvent;
    expect(createOutbox([pager])(event, undefined, { status: 'applied' } as never, T)).toEqual({ deliveries: [], digestItems: [] });
  });
});
