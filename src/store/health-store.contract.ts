// The HealthStore contract: processes that beat, are declared down by one
// caller and hand back what they held; monitors whose every change is a
// compare-and-set, written and announced once however many processes race.
import { describe, expect, it } from 'vitest';
import { StaleBatchError } from '../errors/index.js';
import { eachFreshStore, emptyBatch, inboxEvent, record, type StoreFixture } from './contract-fixtures.js';
import type { NewDelivery } from './delivery-types.js';
import { processMonitorName } from './health-store.js';
import type { Announcer, LoopHealth, MonitorTransition, ProcessInfo, TransitionRequest } from './health-types.js';
import type { Store } from './store.js';

const T0 = 1_700_000_000_000;
const OPS = 'ops';

const info = (id: string): ProcessInfo => ({ id, host: 'box-1', pid: 4242, roles: ['ingest', 'processor'], version: '1.2.3' });
const loops: LoopHealth[] = [{ name: 'processor', status: 'ok', lastTickAt: T0, message: null }];

/** One pending delivery to `ops` per announcement, with an id that tells a reminder apart. */
const announce: Announcer = (t: MonitorTransition, reminder: boolean): NewDelivery[] => [
  {
    deliveryId: `monitor_${t.id}${reminder ? '_reminder' : ''}`,
    integration: OPS,
    kind: 'monitor',
    entity: 'monitor',
    key: t.monitor,
    eventId: `transition:${t.id}`,
    version: null,
    request: { body: { monitor: t.monitor, from: t.from, to: t.to, reminder } },
    status: 'pending',
    createdAt: t.at,
  },
];

const request = (over: Partial<TransitionRequest> = {}): TransitionRequest => ({
  monitor: 'crm-api',
  from: 'new',
  to: 'up',
  observed: 'up',
  at: T0 + 1000,
  message: '200 in 12 ms',
  details: { status: 200 },
  announce: false,
  ...over,
});

export function describeHealthStoreContract(driver: string, open: () => Promise<StoreFixture>): void {
  describe(`HealthStore contract: ${driver}`, () => {
    let store: Store;
    eachFreshStore(open, async (opened) => {
      store = opened;
      await store.deliveries.registerIntegrations([OPS], T0);
    });

    const deliveriesOf = (monitor: string) => store.deliveries.listDeliveries({ integration: OPS, key: monitor, limit: 100 });

    /** Waits until the store's clock is past the process's last beat by more than `ms`: it is silent that long. */
    async function silentFor(id: string, ms: number): Promise<void> {
      for (;;) {
        const { now, processes } = await store.health.listProcesses(0);
        const p = processes.find((x) => x.id === id);
        if (p && now - p.lastBeatAt > ms) return;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }

    describe('processes', () => {
      it('registers a process up at the store clock, with its monitor up unannounced', async () => {
        const before = (await store.health.listProcesses(0)).now;
        const p = await store.health.registerProcess(info('p-1'), announce);
        expect(p).toEqual({ ...info('p-1'), state: 'up', startedAt: p.lastBeatAt, lastBeatAt: expect.any(Number), endedAt: null, loops: [] });
        expect(p.startedAt).toBeGreaterThanOrEqual(before);
        expect(await store.health.getMonitor(processMonitorName('p-1'))).toMatchObject({ kind: 'process', state: 'up', observed: 'up', since: p.startedAt, lastAnnouncedAt: null });
        expect(await store.health.listTransitions(processMonitorName('p-1'), { limit: 10 })).toMatchObject([{ from: 'new', to: 'up', announced: false }]);
        expect(await deliveriesOf(processMonitorName('p-1'))).toEqual([]);
      });

      it('records beats and loop states while up, and fences a beat of a process that is not', async () => {
        const p = await store.health.registerProcess(info('p-1'), announce);
        const beat = await store.health.beat('p-1', loops);
        expect(beat.fenced).toBe(false);
        expect(beat.now).toBeGreaterThanOrEqual(p.lastBeatAt);
        expect((await store.health.listProcesses(0)).processes).toMatchObject([{ id: 'p-1', lastBeatAt: beat.now, loops }]);
        expect((await store.health.getMonitor(processMonitorName('p-1')))?.lastCheckAt).toBe(beat.now);
        expect((await store.health.beat('nobody', loops)).fenced).toBe(true);
      });

      it('declares a silent process down once, announces it and fences its beats', async () => {
        await store.health.registerProcess(info('p-1'), announce);
        await store.health.registerProcess(info('p-2'), announce);
        await silentFor('p-1', 5);
        expect(await store.health.reapSilent(60_000, announce)).toEqual([]);
        await store.health.beat('p-2', loops);
        const reaped = await store.health.reapSilent(5, announce);
        // p-2 beat just now (and the store clock moves on while this runs): only p-1 can be certain.
        const p1 = reaped.find((r) => r.process.id === 'p-1');
        expect(p1).toMatchObject({ process: { state: 'down', endedAt: expect.any(Number) }, released: { keys: 0, deliveries: 0, sources: 0 } });
        expect(p1!.process.endedAt! - p1!.process.lastBeatAt).toBeGreaterThan(5);
        expect((await store.health.reapSilent(5, announce)).map((r) => r.process.id)).not.toContain('p-1');

        const monitor = processMonitorName('p-1');
        expect(await store.health.getMonitor(monitor)).toMatchObject({ state: 'down', observed: 'down', since: p1!.process.endedAt, lastAnnouncedAt: p1!.process.endedAt });
        const [down] = await store.health.listTransitions(monitor, { limit: 1 });
        expect(down).toMatchObject({ from: 'up', to: 'down', announced: true, message: expect.stringMatching(/4242.*box-1.*no beat/) });
        expect(await deliveriesOf(monitor)).toMatchObject([{ kind: 'monitor', entity: 'monitor', key: monitor, eventId: `transition:${down!.id}`, version: null, status: 'pending' }]);
        expect(await store.health.beat('p-1', loops)).toMatchObject({ fenced: true });
      });

      it('returns each silent process to exactly one of several concurrent reapers', async () => {
        const ids = ['p-1', 'p-2', 'p-3'];
        for (const id of ids) await store.health.registerProcess(info(id), announce);
        for (const id of ids) await silentFor(id, 5);
        const rounds = await Promise.all([1, 2, 3, 4].map(() => store.health.reapSilent(5, announce)));
        expect(rounds.flat().map((r) => r.process.id).sort()).toEqual(ids);
        for (const id of ids) {
          expect(await store.health.listTransitions(processMonitorName(id), { limit: 10 })).toMatchObject([{ to: 'down' }, { to: 'up' }]);
          expect(await deliveriesOf(processMonitorName(id))).toHaveLength(1);
        }
      });

      it('brings a process declared down back up, announced', async () => {
        await store.health.registerProcess(info('p-1'), announce);
        await silentFor('p-1', 5);
        const [reaped] = await store.health.reapSilent(5, announce);
        const down = reaped!.process;
        const again = await store.health.registerProcess({ ...info('p-1'), pid: 4343 }, announce);
        expect(again).toMatchObject({ state: 'up', endedAt: null, pid: 4343, startedAt: down.startedAt });
        expect((await store.health.beat('p-1', loops)).fenced).toBe(false);
        const monitor = processMonitorName('p-1');
        expect(await store.health.listTransitions(monitor, { limit: 10 })).toMatchObject([
          { from: 'down', to: 'up', announced: true },
          { from: 'up', to: 'down', announced: true },
          { from: 'new', to: 'up', announced: false },
        ]);
        expect((await deliveriesOf(monitor)).map((d) => d.request?.body)).toEqual([
          { monitor, from: 'down', to: 'up', reminder: false },
          { monitor, from: 'up', to: 'down', reminder: false },
        ]);
      });

      it('frees the sources of a process declared down: its run ends interrupted and another owner starts at once', async () => {
        await store.health.registerProcess(info('p-1'), announce);
        await store.sources.registerSources([{ name: 'pix-log', kind: 'log-tail', schedule: 'every 10s' }], T0);
        const now = Date.now();
        await store.sources.startSourceRun('pix-log', { runId: 'r1', owner: 'p-1', trigger: 'manual', now, leaseMs: 3_600_000, onlyIfDue: false });
        await silentFor('p-1', 5);
        const [reaped] = await store.health.reapSilent(5, announce);
        expect(reaped?.released).toMatchObject({ sources: 1 });
        expect(await store.sources.getSourceRun('r1')).toMatchObject({ status: 'interrupted', error: expect.stringMatching(/declared down/) });
        expect(await store.sources.getSource('pix-log')).toMatchObject({ leaseOwner: null, leaseUntil: null });
        expect(await store.sources.startSourceRun('pix-log', { runId: 'r2', owner: 'p-2', trigger: 'manual', now, leaseMs: 30_000, onlyIfDue: false })).toEqual({ checkpoint: null });
      });

      it('stops a process gracefully: its leases freed at once, its monitor paused unannounced', async () => {
        await store.health.registerProcess(info('p-1'), announce);
        await store.sources.registerSources([{ name: 'pix-log', kind: 'log-tail', schedule: 'every 10s' }], T0);
        const now = Date.now();
        await store.sources.startSourceRun('pix-log', { runId: 'r1', owner: 'p-1', trigger: 'manual', now, leaseMs: 3_600_000, onlyIfDue: false });
        expect(await store.health.stopProcess('p-1')).toMatchObject({ sources: 1 });
        expect((await store.health.listProcesses(0)).processes).toMatchObject([{ id: 'p-1', state: 'stopped', endedAt: expect.any(Number) }]);
        expect(await store.sources.getSourceRun('r1')).toMatchObject({ status: 'interrupted', error: expect.stringMatching(/stopped/) });
        expect(await store.sources.startSourceRun('pix-log', { runId: 'r2', owner: 'p-2', trigger: 'manual', now, leaseMs: 30_000, onlyIfDue: false })).toBeDefined();
        const monitor = processMonitorName('p-1');
        expect(await store.health.getMonitor(monitor)).toMatchObject({ state: 'paused' });
        expect(await store.health.listTransitions(monitor, { limit: 1 })).toMatchObject([{ from: 'up', to: 'paused', announced: false }]);
        expect(await deliveriesOf(monitor)).toEqual([]);
        expect((await store.health.beat('p-1', loops)).fenced).toBe(true);
        expect(await store.health.reapSilent(0, announce)).toEqual([]);
      });

      it('lists live and recently ended processes newest first, and prunes old ones with their monitors', async () => {
        await store.health.registerProcess(info('p-1'), announce);
        await silentFor('p-1', 2);
        await store.health.registerProcess(info('p-2'), announce);
        await store.health.stopProcess('p-1');
        const { now, processes } = await store.health.listProcesses(0);
        expect(processes.map((p) => p.id)).toEqual(['p-2', 'p-1']);
        const ended = processes[1]!.endedAt!;
        expect((await store.health.listProcesses(ended + 1)).processes.map((p) => p.id)).toEqual(['p-2']);
        expect(now).toBeGreaterThanOrEqual(ended);

        expect(await store.health.pruneProcesses(ended)).toBe(0);
        expect(await store.health.pruneProcesses(ended + 1)).toBe(1);
        expect((await store.health.listProcesses(0)).processes.map((p) => p.id)).toEqual(['p-2']);
        expect(await store.health.getMonitor(processMonitorName('p-1'))).toBeUndefined();
        expect(await store.health.countTransitions(processMonitorName('p-1'), 0)).toBe(0);
        expect(await store.health.getMonitor(processMonitorName('p-2'))).toBeDefined();
      });

      it.runIf(driver === 'postgres')('frees the delivery leases of a process declared down, claimable by another owner at once', async () => {
        await store.health.registerProcess(info('p-1'), announce);
        const now = Date.now();
        const delivery: NewDelivery = { deliveryId: 'd-1', integration: OPS, kind: 'change', entity: 'customer', key: 'K1', eventId: 'e-1', version: 1, request: { body: {} }, status: 'pending', createdAt: now - 1 };
        await store.inbox.commitBatch({ ...emptyBatch(), deliveries: [delivery] });
        const claim = (owner: string) => store.deliveries.claimDeliveries([{ integration: OPS, limit: 10, ordered: false }], { now, leaseMs: 3_600_000, owner });
        expect(await claim('p-1')).toHaveLength(1);
        expect(await claim('p-2')).toEqual([]);
        await silentFor('p-1', 5);
        const reaped = (await store.health.reapSilent(5, announce)).find((r) => r.process.id === 'p-1');
        expect(reaped?.released).toMatchObject({ deliveries: 1 });
        expect((await claim('p-2')).map((d) => d.deliveryId)).toContain('d-1');
      });

      it.runIf(driver === 'postgres')('refuses the commit of a batch whose keys were freed when its process was declared down', async () => {
        // The store's lease owner is the id of the process whose keys it claims.
        const owner = store.owner!;
        await store.inbox.accept([inboxEvent('HS-1')]);
        const batch = await store.inbox.claimBatch(10);
        expect(batch.events).toHaveLength(1);
        await store.health.registerProcess(info(owner), announce);
        await silentFor(owner, 5);
        const reaped = (await store.health.reapSilent(5, announce)).find((r) => r.process.id === owner);
        expect(reaped?.released).toMatchObject({ keys: 1 });
        const event = batch.events[0]!;
        const commit = {
          ...emptyBatch(),
          records: [{ record: record('HS-1', 1, { contact: { name: 'A' } }), expectedVersion: 0 }],
          processed: [{ seq: event.seq, eventId: event.eventId, result: { entity: 'customer', key: 'HS-1', version: 1, changedParts: ['contact'] }, at: T0 }],
        };
        await expect(store.inbox.commitBatch(commit)).rejects.toBeInstanceOf(StaleBatchError);
        expect(await store.records.getRecord('customer', 'HS-1')).toBeUndefined();
        expect(await store.inbox.queued()).toBe(1);
      });
    });

    describe('monitors', () => {
      const monitors = () => store.health.registerMonitors([{ name: 'crm-api', kind: 'http' }, { name: 'nightly', kind: 'push' }], T0);

      it('registers monitors once: new ones start new, existing ones keep their state and get the new kind', async () => {
        await monitors();
        expect(await store.health.listMonitors()).toMatchObject([
          { name: 'crm-api', kind: 'http', state: 'new', since: T0, observed: null, observedSince: null, lastCheckAt: null, lastDetails: null, nextCheckAt: null, lastAnnouncedAt: null, updatedAt: T0 },
          { name: 'nightly', kind: 'push', state: 'new' },
        ]);
        await store.health.transition(request(), announce);
        await store.health.registerMonitors([{ name: 'crm-api', kind: 'push' }], T0 + 5000);
        expect(await store.health.getMonitor('crm-api')).toMatchObject({ kind: 'push', state: 'up', since: T0 + 1000 });
        expect(await store.health.getMonitor('nope')).toBeUndefined();
      });

      it('claims a due check once, and none of a paused monitor', async () => {
        await monitors();
        const claims = await Promise.all([1, 2, 3].map(() => store.health.claimCheck('crm-api', T0, 30_000)));
        expect(claims.filter(Boolean)).toHaveLength(1);
        expect((await store.health.getMonitor('crm-api'))?.nextCheckAt).toBe(T0 + 30_000);
        expect(await store.health.claimCheck('crm-api', T0 + 29_999, 30_000)).toBe(false);
        expect(await store.health.claimCheck('crm-api', T0 + 30_000, 30_000)).toBe(true);
        await store.health.transition(request({ to: 'paused', observed: null }), announce);
        expect(await store.health.claimCheck('crm-api', T0 + 90_000, 30_000)).toBe(false);
        expect(await store.health.claimCheck('nope', T0, 30_000)).toBe(false);
      });

      it('observes without changing the state; observedSince moves only when the observation changes', async () => {
        await monitors();
        const seen = (observed: 'up' | 'degraded', at: number) => store.health.observe({ monitor: 'crm-api', observed, at, message: `${observed} at ${at}`, details: { at, nul: '\u0000' } });
        expect(await seen('up', T0 + 1)).toMatchObject({ state: 'new', observed: 'up', observedSince: T0 + 1, lastCheckAt: T0 + 1, lastMessage: `up at ${T0 + 1}`, lastDetails: { at: T0 + 1, nul: '\u0000' } });
        expect(await seen('up', T0 + 2)).toMatchObject({ observed: 'up', observedSince: T0 + 1, lastCheckAt: T0 + 2 });
        expect(await seen('degraded', T0 + 3)).toMatchObject({ observed: 'degraded', observedSince: T0 + 3, state: 'new' });
        expect(await store.health.observe({ monitor: 'nope', observed: 'up', at: T0, message: null, details: null })).toBeUndefined();
      });

      it('moves the state only from the expected one, announcing only when asked', async () => {
        await monitors();
        const quiet = await store.health.transition(request(), announce);
        expect(quiet).toEqual({ id: expect.any(Number), monitor: 'crm-api', from: 'new', to: 'up', at: T0 + 1000, message: '200 in 12 ms', details: { status: 200 }, announced: false });
        expect(await store.health.getMonitor('crm-api')).toMatchObject({ state: 'up', since: T0 + 1000, observed: 'up', observedSince: T0 + 1000, lastAnnouncedAt: null });
        expect(await deliveriesOf('crm-api')).toEqual([]);

        expect(await store.health.transition(request({ from: 'new', to: 'down', at: T0 + 2000 }), announce)).toBeUndefined();
        expect((await store.health.getMonitor('crm-api'))?.state).toBe('up');

        const down = await store.health.transition(request({ from: 'up', to: 'down', observed: 'down', at: T0 + 3000, message: 'timeout', details: null, announce: true }), announce);
        expect(down).toMatchObject({ from: 'up', to: 'down', announced: true, details: null });
        expect(down!.id).toBeGreaterThan(quiet!.id);
        expect(await store.health.getMonitor('crm-api')).toMatchObject({ state: 'down', since: T0 + 3000, observed: 'down', observedSince: T0 + 3000, lastAnnouncedAt: T0 + 3000 });
        expect(await deliveriesOf('crm-api')).toMatchObject([{ deliveryId: `monitor_${down!.id}`, kind: 'monitor', eventId: `transition:${down!.id}`, status: 'pending' }]);
        // A pause without an observation keeps the last one.
        await store.health.transition(request({ from: 'down', to: 'paused', observed: null, at: T0 + 4000 }), announce);
        expect(await store.health.getMonitor('crm-api')).toMatchObject({ state: 'paused', observed: 'down', observedSince: T0 + 3000, lastAnnouncedAt: T0 + 3000 });
        expect(await store.health.transition(request({ monitor: 'nope' }), announce)).toBeUndefined();
      });

      it('lets exactly one of concurrent transitions from the same state win, and writes its deliveries once', async () => {
        await monitors();
        const results = await Promise.all(
          [1, 2, 3, 4].map((i) => store.health.transition(request({ to: 'down', observed: 'down', at: T0 + i, message: `racer ${i}`, announce: true }), announce)),
        );
        const won = results.filter((r) => r !== undefined);
        expect(won).toHaveLength(1);
        expect(await store.health.listTransitions('crm-api', { limit: 10 })).toEqual(won);
        expect(await deliveriesOf('crm-api')).toMatchObject([{ eventId: `transition:${won[0]!.id}` }]);
      });

      it('reminds while the state holds, once per period, of the latest transition', async () => {
        await monitors();
        expect(await store.health.remind('crm-api', 'new', T0 + 60_000, 60_000, announce)).toBe(true); // never announced: counts from `since`
        const down = await store.health.transition(request({ to: 'down', observed: 'down', at: T0 + 100_000, announce: true }), announce);
        expect(await store.health.remind('crm-api', 'down', T0 + 159_999, 60_000, announce)).toBe(false);
        expect(await store.health.remind('crm-api', 'up', T0 + 160_000, 60_000, announce)).toBe(false);
        const both = await Promise.all([1, 2].map(() => store.health.remind('crm-api', 'down', T0 + 160_000, 60_000, announce)));
        expect(both.sort()).toEqual([false, true]);
        expect((await store.health.getMonitor('crm-api'))?.lastAnnouncedAt).toBe(T0 + 160_000);
        expect((await deliveriesOf('crm-api')).map((d) => d.request?.body)).toEqual([
          { monitor: 'crm-api', from: 'new', to: 'down', reminder: true },
          { monitor: 'crm-api', from: 'new', to: 'down', reminder: false },
        ]);
        expect(await store.health.remind('crm-api', 'down', T0 + 200_000, 60_000, announce)).toBe(false);
        expect(await store.health.remind('crm-api', 'down', T0 + 220_000, 60_000, announce)).toBe(true);
        expect(down).toBeDefined();
      });

      it('counts transitions since a time and lists them newest first, a page at a time', async () => {
        await monitors();
        const steps = [['new', 'up'], ['up', 'down'], ['down', 'up'], ['up', 'degraded'], ['degraded', 'up']] as const;
        for (const [i, [from, to]] of steps.entries()) await store.health.transition(request({ from, to, observed: to, at: T0 + (i + 1) * 1000 }), announce);
        await store.health.transition(request({ monitor: 'nightly', at: T0 + 9000 }), announce);
        // The first check (new → up) is not the service changing: four count toward flapping.
        expect(await store.health.countTransitions('crm-api', 0)).toBe(4);
        expect(await store.health.countTransitions('crm-api', T0 + 3000)).toBe(3);
        const first = await store.health.listTransitions('crm-api', { limit: 2 });
        expect(first.map((t) => t.to)).toEqual(['up', 'degraded']);
        const second = await store.health.listTransitions('crm-api', { before: first[1]!.id, limit: 2 });
        expect(second.map((t) => t.to)).toEqual(['up', 'down']);
        const last = await store.health.listTransitions('crm-api', { before: second[1]!.id, limit: 2 });
        expect(last.map((t) => [t.from, t.to])).toEqual([['new', 'up']]);
        expect(await store.health.listTransitions('nope', { limit: 2 })).toEqual([]);
        // An operator's pause and resume, and the first check after, do not count either.
        const operator = [['up', 'paused'], ['paused', 'new'], ['new', 'up']] as const;
        for (const [i, [from, to]] of operator.entries()) await store.health.transition(request({ from, to, observed: 'up', at: T0 + (i + 10) * 1000 }), announce);
        expect(await store.health.countTransitions('crm-api', 0)).toBe(4);
      });
    });
  });
}
