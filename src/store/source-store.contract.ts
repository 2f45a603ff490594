// The SourceStore contract: what every driver must do for scheduled sources.
// The guarantees of pulls rest on two of these: a page's events and its
// checkpoint are one commit, and only the lease holder's commits count.
import { describe, expect, it } from 'vitest';
import { eachFreshStore, type StoreFixture } from './contract-fixtures.js';
import type { Store } from './store.js';
import type { SourcePageCommit } from './source-types.js';
import type { NewInboxEvent } from './types.js';

const T0 = 1_700_000_000_000;
const LEASE = 30_000;

const event = (id: string, key = 'ACC-1'): NewInboxEvent => ({
  eventId: id,
  name: 'pix:cashout:registered',
  version: 1,
  flowId: 'run-flow',
  entity: 'account',
  key,
  envelope: { name: 'pix:cashout:registered', version: 1, id, payload: { id } },
  acceptedAt: T0,
});

const page = (over: Partial<SourcePageCommit> & Pick<SourcePageCommit, 'runId' | 'owner'>): SourcePageCommit => ({
  source: 'pix-log',
  events: [],
  rejected: [],
  skipped: 0,
  checkpoint: { offset: 0 },
  now: T0 + 1000,
  leaseMs: LEASE,
  ...over,
});

export function describeSourceStoreContract(driver: string, open: () => Promise<StoreFixture>): void {
  describe(`SourceStore contract: ${driver}`, () => {
    let store: Store;
    eachFreshStore(open, async (opened) => {
      store = opened;
      await store.sources.registerSources([{ name: 'pix-log', kind: 'log-tail', schedule: 'every 10s' }], T0);
    });

    const start = (runId: string, owner: string, now = T0, over: { onlyIfDue?: boolean } = {}) =>
      store.sources.startSourceRun('pix-log', { runId, owner, trigger: 'manual', now, leaseMs: LEASE, onlyIfDue: over.onlyIfDue ?? false });

    it('registers sources once and keeps their checkpoint when the schedule changes', async () => {
      expect(await store.sources.listSources()).toMatchObject([{ name: 'pix-log', kind: 'log-tail', schedule: 'every 10s', checkpoint: null, lastRun: null, consecutiveFailures: 0 }]);
      await start('r1', 'a');
      await store.sources.commitSourcePage(page({ runId: 'r1', owner: 'a', checkpoint: { offset: 42, file: { ino: 7 } } }));
      await store.sources.setSourceNextRun('pix-log', T0 + 86_400_000);
      await store.sources.registerSources([{ name: 'pix-log', kind: 'log-tail', schedule: 'every 10s' }], T0 + 5);
      expect((await store.sources.getSource('pix-log'))?.nextRunAt).toBe(T0 + 86_400_000);
      await store.sources.registerSources([{ name: 'pix-log', kind: 'log-tail', schedule: 'cron 0 * * * * UTC' }], T0 + 5);
      const row = await store.sources.getSource('pix-log');
      // A new schedule takes effect at once: the next run is set again from it.
      expect(row).toMatchObject({ schedule: 'cron 0 * * * * UTC', checkpoint: { offset: 42, file: { ino: 7 } }, nextRunAt: null });
      expect(await store.sources.getSource('nope')).toBeUndefined();
    });

    it('lets one run hold a source at a time, and takes over a lease that ran out', async () => {
      expect(await start('r1', 'a')).toEqual({ checkpoint: null });
      expect(await start('r2', 'b', T0 + LEASE - 1)).toBeUndefined();
      expect((await store.sources.getSource('pix-log'))?.leaseOwner).toBe('a');
      const taken = await start('r2', 'b', T0 + LEASE + 1);
      expect(taken).toEqual({ checkpoint: null });
      expect(await store.sources.getSourceRun('r1')).toMatchObject({ status: 'interrupted' });
      expect(await store.sources.getSourceRun('r2')).toMatchObject({ status: 'running', owner: 'b', trigger: 'manual' });
      expect((await store.sources.getSource('pix-log'))?.lastRun?.runId).toBe('r2');
    });

    it('starts a scheduled run only when it is due', async () => {
      expect(await start('r1', 'a', T0, { onlyIfDue: true })).toBeUndefined(); // no next run set yet
      await store.sources.setSourceNextRun('pix-log', T0 + 500);
      expect(await start('r1', 'a', T0, { onlyIfDue: true })).toBeUndefined();
      expect(await start('r1', 'a', T0 + 500, { onlyIfDue: true })).toEqual({ checkpoint: null });
      expect(await store.sources.getSourceRun('r1')).toBeDefined();
    });

    it('files a routed event of a page under the key its identifier value is linked to, as accept does', async () => {
      const link = { entity: 'account', identifier: 'email', value: 'ana@example.com', key: 'ACC-7', eventId: 'l', linkedAt: T0 };
      await store.inbox.commitBatch({ records: [], audit: [], changes: [], deliveries: [], digestItems: [], processed: [], parked: [], links: [link] });
      await start('r1', 'a');
      const route = (value: string) => ({ identifier: 'email', value });
      await store.sources.commitSourcePage(
        page({ runId: 'r1', owner: 'a', events: [{ ...event('pix-log:k', 'email:ana@example.com'), route: route('ana@example.com') }, { ...event('pix-log:u', 'email:bo@example.com'), route: route('bo@example.com') }] }),
      );
      expect((await store.records.getEvent('pix-log:k'))?.key).toBe('ACC-7');
      expect((await store.records.getEvent('pix-log:u'))?.key).toBe('email:bo@example.com');
    });

    it('commits a page: its events, its rejects, the checkpoint and the run counts together', async () => {
      await start('r1', 'a');
      const outcome = await store.sources.commitSourcePage(
        page({
          runId: 'r1',
          owner: 'a',
          events: [event('pix-log:t1'), event('pix-log:t2', 'ACC-2')],
          rejected: [{ itemId: 't3', raw: { amountCents: 'x' }, reason: 'amountCents: expected an integer' }],
          skipped: 4,
          checkpoint: { offset: 300 },
        }),
      );
      expect(outcome?.outcomes.map((o) => o.status)).toEqual(['accepted', 'accepted']);
      expect((await store.stats()).queued).toBe(2);
      expect((await store.records.getEvent('pix-log:t2'))?.key).toBe('ACC-2');
      expect((await store.sources.getSource('pix-log'))?.checkpoint).toEqual({ offset: 300 });
      const again = await store.sources.commitSourcePage(page({ runId: 'r1', owner: 'a', events: [event('pix-log:t2', 'ACC-2'), event('pix-log:t4')], checkpoint: { offset: 400 } }));
      expect(again?.outcomes.map((o) => o.status)).toEqual(['duplicate', 'accepted']);
      expect(await store.sources.getSourceRun('r1')).toMatchObject({ pages: 2, items: 9, accepted: 3, duplicates: 1, rejected: 1, skipped: 4 });
      expect(await store.sources.listRejected('pix-log', { limit: 10 })).toMatchObject([
        { source: 'pix-log', runId: 'r1', itemId: 't3', raw: { amountCents: 'x' }, reason: 'amountCents: expected an integer' },
      ]);
    });

    it('writes nothing for a run that lost its lease', async () => {
      await start('r1', 'a');
      await store.sources.commitSourcePage(page({ runId: 'r1', owner: 'a', events: [event('e1')], checkpoint: { offset: 1 } }));
      await start('r2', 'b', T0 + 1000 + LEASE + 1); // a's lease (extended by its commit) ran out
      const late = await store.sources.commitSourcePage(
        page({ runId: 'r1', owner: 'a', now: T0 + 1000 + LEASE + 2, events: [event('e2')], rejected: [{ itemId: null, raw: 'x', reason: 'bad' }], checkpoint: { offset: 2 } }),
      );
      expect(late).toBeUndefined();
      expect(await store.records.getEvent('e2')).toBeUndefined();
      expect(await store.sources.listRejected('pix-log', { limit: 10 })).toEqual([]);
      expect((await store.sources.getSource('pix-log'))?.checkpoint).toEqual({ offset: 1 });
      expect(await store.sources.renewSourceLease('pix-log', 'a', T0 + 1000 + LEASE + 3, LEASE)).toBe(false);
      expect(await store.sources.renewSourceLease('pix-log', 'b', T0 + 1000 + LEASE + 3, LEASE)).toBe(true);
    });

    it('a commit extends the lease; renewing keeps it while a page is read', async () => {
      await start('r1', 'a');
      expect(await store.sources.renewSourceLease('pix-log', 'a', T0 + LEASE - 10, LEASE)).toBe(true);
      expect(await start('r2', 'b', T0 + LEASE + 10)).toBeUndefined();
      expect(await store.sources.commitSourcePage(page({ runId: 'r1', owner: 'a', now: T0 + 2 * LEASE - 20 }))).toBeDefined();
    });

    it('finishing frees the lease, sets the next run and counts failures in a row', async () => {
      await start('r1', 'a');
      await store.sources.finishSourceRun('pix-log', { runId: 'r1', owner: 'a', status: 'failed', error: 'HTTP 503 from billing', nextRunAt: T0 + 60_000, now: T0 + 10 });
      let row = await store.sources.getSource('pix-log');
      expect(row).toMatchObject({ leaseOwner: null, leaseUntil: null, nextRunAt: T0 + 60_000, consecutiveFailures: 1 });
      expect(row?.lastRun).toMatchObject({ runId: 'r1', status: 'failed', error: 'HTTP 503 from billing', finishedAt: T0 + 10 });
      await start('r2', 'b', T0 + 20);
      await store.sources.finishSourceRun('pix-log', { runId: 'r2', owner: 'b', status: 'failed', error: 'again', nextRunAt: T0 + 120_000, now: T0 + 30 });
      expect((await store.sources.getSource('pix-log'))?.consecutiveFailures).toBe(2);
      await start('r2b', 'b', T0 + 32);
      await store.sources.finishSourceRun('pix-log', { runId: 'r2b', owner: 'b', status: 'interrupted', error: 'the hub is stopping', nextRunAt: T0 + 33, now: T0 + 33 });
      expect((await store.sources.getSource('pix-log'))?.consecutiveFailures).toBe(2); // stopping is no failure
      await start('r3', 'b', T0 + 40);
      await store.sources.finishSourceRun('pix-log', { runId: 'r3', owner: 'b', status: 'succeeded', error: null, nextRunAt: T0 + 50_000, now: T0 + 50 });
      row = await store.sources.getSource('pix-log');
      expect(row).toMatchObject({ consecutiveFailures: 0, nextRunAt: T0 + 50_000 });
      expect((await store.sources.listSourceRuns('pix-log', 10)).map((r) => r.runId)).toEqual(['r3', 'r2b', 'r2', 'r1']);
    });

    it('a run that lost its lease cannot free the new holder’s lease', async () => {
      await start('r1', 'a');
      await start('r2', 'b', T0 + LEASE + 1);
      await store.sources.finishSourceRun('pix-log', { runId: 'r1', owner: 'a', status: 'failed', error: 'late', nextRunAt: T0, now: T0 + LEASE + 2 });
      expect(await store.sources.getSource('pix-log')).toMatchObject({ leaseOwner: 'b', consecutiveFailures: 0 });
    });

    it('resets a checkpoint only while no run holds the source', async () => {
      await start('r1', 'a');
      await store.sources.commitSourcePage(page({ runId: 'r1', owner: 'a', checkpoint: { offset: 9 } }));
      expect(await store.sources.resetSourceCheckpoint('pix-log', T0 + 2000)).toBe('running');
      expect((await store.sources.getSource('pix-log'))?.checkpoint).toEqual({ offset: 9 });
      await store.sources.finishSourceRun('pix-log', { runId: 'r1', owner: 'a', status: 'succeeded', error: null, nextRunAt: null, now: T0 + 3000 });
      expect(await store.sources.resetSourceCheckpoint('pix-log', T0 + 4000)).toBe('reset');
      expect((await store.sources.getSource('pix-log'))?.checkpoint).toBeNull();
      expect(await store.sources.resetSourceCheckpoint('nope', T0)).toBe('unknown');
    });

    it('pages through rejected items by cursor', async () => {
      await start('r1', 'a');
      const rejected = Array.from({ length: 5 }, (_, i) => ({ itemId: `i${i}`, raw: { i }, reason: `bad ${i}` }));
      await store.sources.commitSourcePage(page({ runId: 'r1', owner: 'a', rejected }));
      const first = await store.sources.listRejected('pix-log', { limit: 2 });
      expect(first.map((r) => r.itemId)).toEqual(['i0', 'i1']);
      const rest = await store.sources.listRejected('pix-log', { after: first.at(-1)?.id ?? 0, limit: 10 });
      expect(rest.map((r) => r.itemId)).toEqual(['i2', 'i3', 'i4']);
      expect(await store.sources.listRejected('other', { limit: 10 })).toEqual([]);
    });
  });
}
