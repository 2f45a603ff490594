// Scheduled sources in a real hub: runs by hand and on schedule, paging,
// checkpoints, rejected items, failures with back-off, and the lease that
// keeps one run of a source at a time even across two hubs on one file.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../src/errors/index.js';
import { defineSource, type SourceOptions } from '../src/sources/source.js';
import { customDriver, type SourceDriver } from '../src/sources/source-driver.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import type { Json } from '../src/store/types.js';
import { entryPosted, ledgerFlow } from './support/flows.js';
import { eventually, startTestHub, tempDir, type TestHub } from './support/index.js';

interface Entry {
  ref: string;
  account: string;
  amount: unknown;
  label?: string;
}

/**
 * A feed of ledger entries in memory, read in pages of `pageSize` after an
 * index checkpoint: the custom driver kind, over a list the test appends to.
 */
function feed(pageSize = 3) {
  const entries: Entry[] = [];
  const calls: Array<Json | null> = [];
  let failNext: string | undefined;
  let gate: Promise<void> | undefined;
  const driver: SourceDriver<unknown, Json> = customDriver<Entry, { next: number }>(async (checkpoint, context) => {
    calls.push(checkpoint);
    // A held page waits, as a slow API would, until released or the run is cancelled.
    if (gate) await Promise.race([gate, new Promise((_, reject) => context.signal.addEventListener('abort', () => reject(context.signal.reason as Error)))]);
    if (failNext) {
      const message = failNext;
      failNext = undefined;
      throw new Error(message);
    }
    const from = checkpoint?.next ?? 0;
    const items = entries.slice(from, from + pageSize);
    return { items, checkpoint: { next: from + items.length }, more: from + items.length < entries.length };
  }) as SourceDriver<unknown, Json>;
  return {
    driver,
    entries,
    calls,
    add: (...more: Entry[]) => entries.push(...more),
    failOnce: (message: string) => (failNext = message),
    hold: () => {
      let release!: () => void;
      gate = new Promise<void>((resolve) => (release = resolve));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

// `amount` is left unchecked here so that a bad one reaches the event's own schema.
const entryItem = z.object({ ref: z.string(), account: z.string(), amount: z.unknown(), label: z.string().optional() });
const ledgerSource = (driver: SourceDriver<unknown, Json>, over: Partial<SourceOptions<typeof entryPosted, typeof entryItem>> = {}) =>
  defineSource({
    name: 'ledger-feed',
    driver,
    schedule: { every: '1h' },
    item: entryItem,
    emits: entryPosted,
    id: (entry) => entry.ref,
    map: (entry) => (entry.label === 'ignore' ? null : { id: entry.account, amount: entry.amount as number, label: entry.label ?? entry.ref }),
    ...over,
  });

const hubs: TestHub[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

async function hubWith(options: Parameters<typeof startTestHub>[0]): Promise<TestHub> {
  const hub = await startTestHub({ flow: ledgerFlow, ...options });
  hubs.push(hub);
  return hub;
}

describe('sources', () => {
  it('runs a source by hand, page after page, and the events flow through the rules', async () => {
    const f = feed(3);
    f.add(...Array.from({ length: 7 }, (_, i) => ({ ref: `t${i}`, account: i % 2 ? 'A' : 'B', amount: 10 })));
    const t = await hubWith({ sources: [ledgerSource(f.driver)], pull: false });
    const run = await t.post('/api/v1/sources/ledger-feed/run');
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ trigger: 'manual', status: 'succeeded', pages: 3, items: 7, accepted: 7, duplicates: 0, rejected: 0, error: null });
    await eventually(async () => (await t.get('/api/v1/entities/account/A')).body?.version === 3);
    expect((await t.get('/api/v1/entities/account/B')).body.parts.ledger).toMatchObject({ balance: 40, entries: 4 });
    const trace = await t.get('/api/v1/events/ledger-feed:t3');
    expect(trace.body).toMatchObject({ status: 'processed', entity: 'account', key: 'A', flowId: run.body.runId });
    const sources = await t.get('/api/v1/sources');
    expect(sources.body.sources).toMatchObject([
      { name: 'ledger-feed', kind: 'custom', schedule: 'every 1h', state: 'scheduled', checkpoint: { next: 7 }, consecutiveFailures: 0, lastRun: { status: 'succeeded', accepted: 7 } },
    ]);
  });

  it('goes on from its checkpoint: a second run reads only what is new', async () => {
    const f = feed(5);
    f.add({ ref: 'a', account: 'A', amount: 1 }, { ref: 'b', account: 'A', amount: 2 });
    const t = await hubWith({ sources: [ledgerSource(f.driver)], pull: false });
    expect((await t.post('/api/v1/sources/ledger-feed/run')).body).toMatchObject({ accepted: 2 });
    f.add({ ref: 'c', account: 'A', amount: 4 });
    expect((await t.post('/api/v1/sources/ledger-feed/run')).body).toMatchObject({ items: 1, accepted: 1, duplicates: 0 });
    expect(f.calls.at(-1)).toEqual({ next: 2 });
    expect((await t.post('/api/v1/sources/ledger-feed/run')).body).toMatchObject({ items: 0, pages: 1 });
    await eventually(async () => (await t.get('/api/v1/entities/account/A')).body?.parts?.ledger?.balance === 7);
  });

  it('keeps bad items in the rejected list with the reason and the raw item, and the run goes on', async () => {
    const f = feed(10);
    f.add(
      { ref: 'ok1', account: 'A', amount: 5 },
      { ref: 'bad-amount', account: 'A', amount: 'five' },
      { ref: '', account: 'A', amount: 1 },
      { ref: 'bad-key', account: '', amount: 1 },
      { ref: 'skip-me', account: 'A', amount: 1, label: 'ignore' },
      { account: 'A', amount: 1 } as unknown as Entry,
      { ref: 'ok2', account: 'A', amount: 6 },
    );
    const t = await hubWith({ sources: [ledgerSource(f.driver)], pull: false });
    const run = await t.post('/api/v1/sources/ledger-feed/run');
    expect(run.body).toMatchObject({ status: 'succeeded', items: 7, accepted: 2, rejected: 4, skipped: 1 });
    const rejected = await t.get('/api/v1/sources/ledger-feed/rejected');
    expect(rejected.status).toBe(200);
    const byItem = Object.fromEntries(rejected.body.items.map((r: { itemId: string | null; reason: string }) => [r.itemId ?? 'none', r.reason]));
    expect(byItem['bad-amount']).toMatch(/not a valid ledger:entry:posted payload: amount/);
    expect(byItem['bad-key']).toMatch(/invalid key/);
    expect(byItem.none).toMatch(/no id|ref/);
    expect(rejected.body.items.find((r: { itemId: string }) => r.itemId === 'bad-amount')).toMatchObject({ raw: { ref: 'bad-amount', amount: 'five' }, runId: run.body.runId });
    const page = await t.get('/api/v1/sources/ledger-feed/rejected?limit=2');
    expect(page.body.items).toHaveLength(2);
    const rest = await t.get(`/api/v1/sources/ledger-feed/rejected?limit=10&cursor=${page.body.nextCursor}`);
    expect(rest.body.items).toHaveLength(2);
    await eventually(async () => (await t.get('/api/v1/entities/account/A')).body?.parts?.ledger?.balance === 11);
  });

  it('a failed run is visible, backs off, and the next run goes on from the last committed page', async () => {
    const f = feed(2);
    f.add(...Array.from({ length: 6 }, (_, i) => ({ ref: `t${i}`, account: 'A', amount: 1 })));
    let pulls = 0;
    const failing = customDriver<unknown, Json>(async (checkpoint, context) => {
      pulls += 1;
      if (pulls === 2) throw new Error('billing answered 503 to https://user:hunter2secret@billing.example/export');
      return f.driver.pull(checkpoint, context);
    });
    const secretive: SourceDriver<unknown, Json> = { ...failing, secrets: () => ['hunter2secret'] };
    const t = await hubWith({ sources: [ledgerSource(secretive, { backoff: { initialMs: 60_000 } })], pull: false });
    const before = Date.now();
    const run = await t.post('/api/v1/sources/ledger-feed/run');
    expect(run.body).toMatchObject({ status: 'failed', pages: 1, accepted: 2 });
    expect(run.body.error).toContain('503');
    expect(run.body.error).not.toContain('hunter2secret');
    const listed = (await t.get('/api/v1/sources')).body.sources[0];
    expect(listed).toMatchObject({ state: 'failing', consecutiveFailures: 1, checkpoint: { next: 2 }, lastRun: { status: 'failed' } });
    // One failure backs off by the initial delay (the hourly schedule is later still, so it wins).
    expect(Date.parse(listed.nextRunAt)).toBeGreaterThanOrEqual(before + 3_600_000);
    const again = await t.post('/api/v1/sources/ledger-feed/run');
    expect(again.body).toMatchObject({ status: 'succeeded', accepted: 4, duplicates: 0 });
    expect((await t.get('/api/v1/sources')).body.sources[0]).toMatchObject({ consecutiveFailures: 0, checkpoint: { next: 6 } });
    const detail = await t.get('/api/v1/sources/ledger-feed');
    expect(detail.body.runs.map((r: { status: string }) => r.status)).toEqual(['succeeded', 'failed']);
  });

  it('runs on its schedule, and at start when asked', async () => {
    const f = feed(10);
    f.add({ ref: 'x1', account: 'S', amount: 1 });
    const t = await hubWith({
      sources: [ledgerSource(f.driver, { schedule: { every: '150ms' }, runAtStart: true })],
      sourceRunner: { pollMs: 20 },
    });
    await eventually(async () => (await t.get('/api/v1/entities/account/S')).body?.parts?.ledger?.balance === 1);
    f.add({ ref: 'x2', account: 'S', amount: 2 });
    await eventually(async () => (await t.get('/api/v1/entities/account/S')).body?.parts?.ledger?.balance === 3, 5000, 'the scheduled run');
    const runs = (await t.get('/api/v1/sources/ledger-feed')).body.runs as Array<{ trigger: string }>;
    expect(runs.at(-1)?.trigger).toBe('start');
    expect(runs.some((r) => r.trigger === 'schedule')).toBe(true);
  });

  it('lets one run of a source go at a time, also across two hubs on one database', async () => {
    const f = feed(10);
    f.add({ ref: 'only', account: 'L', amount: 1 });
    const first = await hubWith({ sources: [ledgerSource(f.driver)], pull: false });
    const second = await hubWith({ sources: [ledgerSource(f.driver)], pull: false, dbPath: first.dbPath });
    const release = f.hold();
    const slow = first.post('/api/v1/sources/ledger-feed/run');
    await eventually(() => f.calls.length === 1);
    const busyHere = await first.post('/api/v1/sources/ledger-feed/run');
    expect(busyHere.status).toBe(409);
    const busyThere = await second.post('/api/v1/sources/ledger-feed/run');
    expect(busyThere.status).toBe(409);
    expect(busyThere.body.error.code).toBe('SOURCE_BUSY');
    expect((await second.get('/api/v1/sources')).body.sources[0].state).toBe('running');
    release();
    expect((await slow).body).toMatchObject({ status: 'succeeded', accepted: 1 });
    expect((await second.post('/api/v1/sources/ledger-feed/run')).body).toMatchObject({ status: 'succeeded', items: 0 });
  });

  it('answers 404 for an unknown source and 400 for a bad query', async () => {
    const t = await hubWith({ sources: [ledgerSource(feed().driver)], pull: false });
    expect((await t.post('/api/v1/sources/nope/run')).status).toBe(404);
    expect((await t.get('/api/v1/sources/nope/rejected')).status).toBe(404);
    expect((await t.get('/api/v1/sources/ledger-feed/rejected?limit=0')).status).toBe(400);
    expect((await t.post('/api/v1/sources/ledger-feed/run', 'wrong-token')).status).toBe(401);
  });

  it('a source that is off says why and does not run', async () => {
    const t = await hubWith({ sources: [ledgerSource(feed().driver, { disabled: 'BILLING_API_URL is unset' })], pull: false });
    expect((await t.get('/api/v1/sources')).body.sources[0]).toMatchObject({ state: 'off', offBecause: 'BILLING_API_URL is unset', nextRunAt: null });
    const run = await t.post('/api/v1/sources/ledger-feed/run');
    expect(run.status).toBe(409);
    expect(run.body.error.message).toMatch(/off: BILLING_API_URL is unset/);
  });

  it('refuses sources that do not fit the flow or their schedule', async () => {
    const driver = feed().driver;
    await expect(hubWith({ sources: [ledgerSource(driver), ledgerSource(driver)], pull: false })).rejects.toThrow(/two sources are named "ledger-feed"/);
    expect(() => ledgerSource(driver, { schedule: { cron: 'every tuesday' } })).toThrow(ConfigError);
    expect(() => ledgerSource(driver, { schedule: { cron: '*/5 * * * *', timezone: 'Mars/Olympus' } })).toThrow(/not valid/);
    expect(() => ledgerSource(driver, { schedule: { every: '5 parsecs' } })).toThrow(/not a duration/);
    expect(() => ledgerSource(driver, { name: 'Bad Name' })).toThrow(/source name/);
    expect(() => ledgerSource(driver, { schedule: { cron: '0 0 30 2 *' } })).toThrow(/never fires/);
  });

  it('gives id() the item as its schema made it', async () => {
    const rows = [{ REF: 7, ACCOUNT: 'T', AMOUNT: '12' }];
    const driver = customDriver(async (checkpoint: { done: boolean } | null) => ({ items: checkpoint?.done ? [] : rows, checkpoint: { done: true } }));
    const source = defineSource({
      name: 'upper-feed',
      driver: driver as SourceDriver<unknown, Json>,
      schedule: { every: '1h' },
      item: z.object({ REF: z.number(), ACCOUNT: z.string(), AMOUNT: z.coerce.number() }).transform((r) => ({ ref: `r${r.REF}`, account: r.ACCOUNT, amount: r.AMOUNT })),
      emits: entryPosted,
      id: (item) => item.ref,
      map: (item) => ({ id: item.account, amount: item.amount, label: item.ref }),
    });
    const t = await hubWith({ sources: [source], pull: false });
    expect((await t.post('/api/v1/sources/upper-feed/run')).body).toMatchObject({ accepted: 1, rejected: 0 });
    expect((await t.get('/api/v1/events/upper-feed:r7')).body.entity).toBe('account');
  });

  it('a hub stopping mid-run leaves the source interrupted, not failing', async () => {
    const f = feed(1);
    f.add({ ref: 'a', account: 'Z', amount: 1 }, { ref: 'b', account: 'Z', amount: 1 });
    const dir = tempDir();
    const t = await startTestHub({ flow: ledgerFlow, sources: [ledgerSource(f.driver)], pull: false, dbPath: join(dir.path, 'confluo.db') });
    const release = f.hold();
    const run = t.post('/api/v1/sources/ledger-feed/run').catch(() => undefined);
    await eventually(() => f.calls.length === 1);
    await t.close();
    await run;
    release();
    const store = new SqliteStore({ path: t.dbPath });
    await store.init();
    try {
      const row = await store.sources.getSource('ledger-feed');
      expect(row?.lastRun?.status).toBe('interrupted');
      expect(row?.consecutiveFailures).toBe(0);
      expect(row?.leaseOwner).toBeNull();
    } finally {
      await store.close();
      dir.remove();
    }
  });

  it('shows checkpoints without the credentials they may hold', async () => {
    const driver = customDriver(
      async () => ({ items: [], checkpoint: { next: 'https://billing.example/export?page=2&access_token=tok_live_0123456789', session: 'sess-abcdef123456' } }),
      { secrets: () => ['sess-abcdef123456'] },
    );
    const t = await hubWith({ sources: [ledgerSource(driver as SourceDriver<unknown, Json>)], pull: false });
    await t.post('/api/v1/sources/ledger-feed/run');
    const shown = JSON.stringify((await t.get('/api/v1/sources')).body);
    expect(shown).toContain('page=2');
    expect(shown).not.toContain('tok_live_0123456789');
    expect(shown).not.toContain('sess-abcdef123456');
  });
});
