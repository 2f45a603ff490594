// The suite every source driver runs (log-tail, http-poll, sql-poll, custom).
// A driver is right when, from any checkpoint it returned, it yields exactly
// the items that came after it, in order, paging with `more`, and the same
// checkpoint read twice gives the same page (a crash before the commit repeats
// a page, never skips one).
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Json } from '../store/types.js';
import type { PullContext, SourceDriver } from './source-driver.js';

export interface DriverHarness {
  /** A driver over the harness's backing system, set to pages of at most `pageSize` items. */
  driver: SourceDriver<unknown, Json>;
  /** The page size the driver was made with (the suite appends more than that). */
  pageSize: number;
  /** Adds `count` new items to the backing system; resolves with their ids in source order. */
  append(count: number): Promise<string[]>;
  /** The id the harness gave an item. */
  idOf(item: unknown): string;
  /** A new driver instance over the same backing system: a restarted process. */
  reopen(): Promise<SourceDriver<unknown, Json>>;
  close(): Promise<void>;
}

const context = (): PullContext => ({ source: 'contract', signal: new AbortController().signal, log: pino({ level: 'silent' }) });

/** Stored checkpoints go through JSON; so do the suite's. */
const stored = (checkpoint: Json): Json => JSON.parse(JSON.stringify(checkpoint)) as Json;

async function drain(driver: SourceDriver<unknown, Json>, from: Json | null, idOf: (item: unknown) => string) {
  const ids: string[] = [];
  let checkpoint = from;
  let pulls = 0;
  for (;;) {
    const page = await driver.pull(checkpoint, context());
    pulls += 1;
    ids.push(...page.items.map(idOf));
    checkpoint = stored(page.checkpoint);
    if (!page.more) break;
    if (pulls > 10_000) throw new Error('driver kept answering more: true');
  }
  return { ids, checkpoint, pulls };
}

export function describeSourceDriverContract(name: string, setup: () => Promise<DriverHarness>): void {
  describe(`source driver contract: ${name}`, () => {
    let h: DriverHarness;
    beforeEach(async () => {
      h = await setup();
    });
    afterEach(async () => {
      await h.close();
    });

    it('reads nothing from an empty source, and its checkpoint is JSON', async () => {
      const page = await h.driver.pull(null, context());
      expect(page.items).toEqual([]);
      expect(page.more ?? false).toBe(false);
      expect(stored(page.checkpoint)).toEqual(page.checkpoint);
    });

    it('reads every item once, in order, from the beginning', async () => {
      const ids = await h.append(5);
      const result = await drain(h.driver, null, h.idOf);
      expect(result.ids).toEqual(ids);
    });

    it('pages with more when there is more than a page', async () => {
      const ids = await h.append(h.pageSize * 2 + 3);
      const result = await drain(h.driver, null, h.idOf);
      expect(result.ids).toEqual(ids);
      expect(result.pulls).toBeGreaterThanOrEqual(3);
    });

    it('resumes after its checkpoint: only what came after, nothing again', async () => {
      const first = await h.append(4);
      const before = await drain(h.driver, null, h.idOf);
      expect(before.ids).toEqual(first);
      const nothing = await drain(h.driver, before.checkpoint, h.idOf);
      expect(nothing.ids).toEqual([]);
      const second = await h.append(3);
      const after = await drain(h.driver, nothing.checkpoint, h.idOf);
      expect(after.ids).toEqual(second);
    });

    it('gives the same page for the same checkpoint (a page not committed is read again)', async () => {
      await h.append(h.pageSize + 2);
      const start = await h.driver.pull(null, context());
      const again = await h.driver.pull(null, context());
      expect(again.items.map(h.idOf)).toEqual(start.items.map(h.idOf));
      const next = await h.driver.pull(stored(start.checkpoint), context());
      const nextAgain = await h.driver.pull(stored(start.checkpoint), context());
      expect(nextAgain.items.map(h.idOf)).toEqual(next.items.map(h.idOf));
      expect(new Set([...start.items, ...next.items].map(h.idOf)).size).toBe(start.items.length + next.items.length);
    });

    it('a new driver instance goes on from a stored checkpoint', async () => {
      const first = await h.append(3);
      const read = await drain(h.driver, null, h.idOf);
      expect(read.ids).toEqual(first);
      const second = await h.append(2);
      const reopened = await h.reopen();
      try {
        const after = await drain(reopened, read.checkpoint, h.idOf);
        expect(after.ids).toEqual(second);
      } finally {
        await reopened.close?.();
      }
    });
  });
}
