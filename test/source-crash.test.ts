// Crash safety of a scheduled pull: a real hub tails a large log in many
// pages and is killed with SIGKILL in the middle of the pull, twice. After the
// last restart the inbox holds exactly the log's cash-outs, each once, and the
// records count each exactly once: a page's events and its checkpoint are one
// commit, so a crash repeats nothing and skips nothing.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { killAllHubs, killGroup, startHubProcess } from './support/hub-process.js';
import { appendPixLog, expectedTotals, pixLine } from './support/pix-log.js';
import { eventually, tempDir } from './support/index.js';

const ADMIN_TOKEN = 'cadm_source_crash_token_0123456789abcdef';
const LINES = 20_000;
const ACCOUNTS = 40;

describe('a hub killed during a multi-page pull', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    await killAllHubs();
    for (const c of cleanups.splice(0)) await c();
  });

  it('ends with every item of the source in the store exactly once', async () => {
    const dir = tempDir('confluo-source-crash-');
    cleanups.push(dir.remove);
    const logPath = join(dir.path, 'pix.log');
    const dbPath = join(dir.path, 'confluo.db');
    // One line in ten is another transaction type; the filter passes over those.
    const lines = Array.from({ length: LINES }, (_, i) => pixLine(`ACC${i % ACCOUNTS}`, 100 + (i % 997), i % 10 === 9 ? 'pix.cashin' : 'pix.cashout'));
    appendPixLog(logPath, lines);
    const cashouts = lines.filter((l) => l.type === 'pix.cashout');
    const env = {
      PIX_LOG_PATH: logPath,
      PIX_PAGE_LINES: '40',
      PIX_POLL_INTERVAL: '100ms',
      CONFLUO_ADMIN_TOKEN: ADMIN_TOKEN,
      CONFLUO_API_KEYS: 'ck_source_crash_key_0123456789abcdef',
      CONFLUO_DATA_DIR: dir.path,
      // A killed run's lease frees quickly, so the restarted hub goes on at once.
      CONFLUO_SOURCE_LEASE_MS: '1000',
    };
    const start = () => startHubProcess({ dbPath, env, config: 'examples/pix-monitor/confluo.config.ts' });
    const inboxCount = () => {
      const db = new Database(dbPath, { readonly: true, fileMustExist: true });
      try {
        return (db.prepare('SELECT count(*) AS n FROM inbox').get() as { n: number }).n;
      } catch {
        return 0; // schema not created yet
      } finally {
        db.close();
      }
    };

    const killedAt: number[] = [];
    for (const fraction of [0.2, 0.55]) {
      const hub = await start();
      // Kill once the pull is well under way but not done.
      const seen = await eventually(() => {
        const n = inboxCount();
        return n >= cashouts.length * fraction ? n : undefined;
      }, 60_000, `${fraction * 100}% of the pull`);
      killGroup(hub.process, 'SIGKILL');
      await hub.exited;
      killedAt.push(seen);
    }
    expect(killedAt[0]).toBeLessThan(cashouts.length);
    expect(killedAt[1]).toBeLessThan(cashouts.length);

    const hub = await start();
    const get = async (path: string) => (await (await request(`${hub.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.json()) as any;
    const totals = expectedTotals(lines);
    await eventually(
      async () => {
        for (const [account, t] of totals) {
          const record = await get(`/api/v1/entities/account/${account}`);
          if (record?.parts?.cashouts?.count !== t.count) return false;
        }
        return true;
      },
      60_000,
      'every cash-out applied',
    );

    const db = new Database(dbPath, { readonly: true });
    try {
      const ids = (db.prepare('SELECT event_id FROM inbox ORDER BY seq').all() as Array<{ event_id: string }>).map((r) => r.event_id);
      expect(ids).toHaveLength(cashouts.length);
      // Exactly the items, once each, in the log's order.
      expect(ids).toEqual(cashouts.map((l) => `pix-log:${l.eventId}`));
      const runs = db.prepare('SELECT status, count(*) AS n FROM source_runs GROUP BY status').all() as Array<{ status: string; n: number }>;
      expect(runs.find((r) => r.status === 'interrupted')?.n).toBeGreaterThanOrEqual(1);
    } finally {
      db.close();
    }
    for (const [account, t] of totals) {
      const record = await get(`/api/v1/entities/account/${account}`);
      expect(record.parts.cashouts).toMatchObject({ count: t.count, totalCents: t.totalCents });
    }
  });
});
