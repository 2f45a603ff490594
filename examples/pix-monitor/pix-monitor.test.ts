// The Pix cash-out monitor end to end: a generated transaction log with
// cash-outs of watched and unwatched accounts (and other transaction types),
// the real `confluo start` process tailing it, and a local Slack stand-in.
// Every window with cash-outs of watched accounts gets one digest with the
// right counts and pt-BR totals; a SIGKILL and restart in the middle of a
// window neither repeats nor loses an amount.
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { killAllHubs, killGroup, startHubProcess, type HubProcess } from '../../test/support/hub-process.js';
import { appendPixLog, expectedTotals, pixLine, type PixLine } from '../../test/support/pix-log.js';
import { startReceiver, type Receiver } from '../../test/support/receiver.js';
import { eventually, tempDir } from '../../test/support/index.js';
import { pixDigest } from './integrations.js';

const ADMIN_TOKEN = 'cadm_pix_test_token_0123456789abcdef';
const WATCHED = ['0001-1', '0002-9'];

/** Parses `R$ 1.234,56` back to centavos. */
const cents = (money: string) => Number(money.replace(/^R\$\s/, '').replace(/\./g, '').replace(',', ''));

interface DigestRowSeen {
  account: string;
  count: number;
  totalCents: number;
  line: string;
}

/** The rows of a digest message as Slack would show them. */
function rowsOf(message: { blocks: Array<{ type: string; text?: { text: string }; elements?: Array<{ text: string }> }> }): { rows: DigestRowSeen[]; window: string } {
  const rows: DigestRowSeen[] = [];
  for (const block of message.blocks) {
    if (block.type !== 'section' || !block.text) continue;
    const match = /^\*Conta (.+)\*: (\d+) eventos? · (R\$ [\d.]+,\d{2})$/.exec(block.text.text);
    if (!match) throw new Error(`unexpected digest row: ${block.text.text}`);
    rows.push({ account: match[1] as string, count: Number(match[2]), totalCents: cents(match[3] as string), line: block.text.text });
  }
  const context = message.blocks.find((b) => b.type === 'context');
  return { rows, window: context?.elements?.[0]?.text ?? '' };
}

describe('pix-digest fold', () => {
  it('lists each watched account with its count and pt-BR total, and sends nothing for an empty window', () => {
    const digest = pixDigest({ SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/abcdefabcdefabcdefabcdef', PIX_WATCHED_ACCOUNTS: '0001-1, 0002-9', PIX_DIGEST_WINDOW: '5m' }).digest;
    expect(digest?.windowMs).toBe(300_000);
    const window = { start: new Date('2026-11-22T10:00:00Z'), end: new Date('2026-11-22T10:05:00Z') };
    const folded = digest?.fold(
      [
        { account: '0002-9', amountCents: 5 },
        { account: '0001-1', amountCents: 123_456 },
        { account: '0001-1', amountCents: 100_000_000 },
      ],
      window,
    ) as { body: { text: string; blocks: Array<{ type: string; text?: { text: string } }> } };
    expect(folded.body.text).toBe('Saques Pix: 3 eventos · R$ 1.001.234,61');
    expect(folded.body.blocks.filter((b) => b.type === 'section').map((b) => b.text?.text)).toEqual(['*Conta 0001-1*: 2 eventos · R$ 1.001.234,56', '*Conta 0002-9*: 1 evento · R$ 0,05']);
    expect(digest?.fold([], window)).toEqual({ skip: 'no cash-outs of watched accounts in this window' });
  });

  it('is off, saying why, without a webhook or watched accounts', () => {
    expect(pixDigest({ PIX_WATCHED_ACCOUNTS: '1' }).disabled).toBe('SLACK_WEBHOOK_URL is unset');
    expect(pixDigest({ SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/a/b/c' }).disabled).toBe('PIX_WATCHED_ACCOUNTS is empty');
  });
});

describe('Pix cash-out monitor, end to end', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    await killAllHubs();
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('sends one digest per window with the right counts and totals, across a SIGKILL restart mid-window', async () => {
    const dir = tempDir('confluo-pix-');
    cleanups.push(dir.remove);
    const slack: Receiver = await startReceiver();
    cleanups.push(slack.close);
    const logPath = join(dir.path, 'pix.log');
    const env = {
      PIX_LOG_PATH: logPath,
      PIX_WATCHED_ACCOUNTS: WATCHED.join(','),
      SLACK_WEBHOOK_URL: `${slack.url}/services/T000/B000/pixdigestsecretsecretsecret`,
      PIX_DIGEST_WINDOW: '4s',
      PIX_POLL_INTERVAL: '100ms',
      CONFLUO_ADMIN_TOKEN: ADMIN_TOKEN,
      CONFLUO_API_KEYS: 'ck_pix_test_key_0123456789abcdef',
      CONFLUO_DATA_DIR: dir.path,
    };
    const dbPath = join(dir.path, 'confluo.db');
    const start = () => startHubProcess({ dbPath, env, config: 'examples/pix-monitor/confluo.config.ts' });
    const api = async (hub: HubProcess, path: string) => {
      const response = await request(`${hub.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return { status: response.statusCode, body: (await response.body.json()) as any };
    };
    const countOf = async (hub: HubProcess, account: string) => {
      const r = await api(hub, `/api/v1/entities/account/${account}`);
      return r.status === 200 ? (r.body.parts.cashouts.count as number) : 0;
    };

    const written: PixLine[] = [];
    const write = (lines: PixLine[]) => {
      written.push(...lines);
      appendPixLog(logPath, lines);
    };
    const batch = (n: number) =>
      Array.from({ length: n }, (_, i) => {
        const account = ['0001-1', '0002-9', '9999-0'][i % 3] as string;
        // Every fifth line is another transaction type: the source's filter passes over it.
        return pixLine(account, 1000 + ((i * 7919) % 250_000), i % 5 === 4 ? 'pix.cashin' : 'pix.cashout');
      });

    let hub = await start();
    // Write the first cash-outs just after a window opens, so the kill below lands inside that window.
    const windowMs = 4000;
    const opens = Date.now() - (Date.now() % windowMs) + windowMs + 50;
    await eventually(() => Date.now() >= opens, windowMs + 5_000, 'the next window to open');
    const windowOfFirst = Math.floor(Date.now() / windowMs);
    write(batch(60));
    const firstTotals = expectedTotals(written);
    await eventually(async () => (await countOf(hub, '0001-1')) === firstTotals.get('0001-1')?.count && (await countOf(hub, '9999-0')) === firstTotals.get('9999-0')?.count, 15_000, 'first lines applied');

    // Mid-window: the window holding these cash-outs has not closed, so no digest of them went out yet.
    expect(Math.floor(Date.now() / windowMs), 'the machine was too slow to kill the hub inside the first window').toBe(windowOfFirst);
    expect(slack.received).toHaveLength(0);
    killGroup(hub.process, 'SIGKILL');
    await hub.exited;
    write(batch(45)); // written while the hub is down
    hub = await start();
    write(batch(30)); // and while it runs again

    const all = expectedTotals(written);
    await eventually(async () => (await countOf(hub, '0001-1')) === all.get('0001-1')?.count && (await countOf(hub, '0002-9')) === all.get('0002-9')?.count, 15_000, 'every line applied');
    const wanted = [...expectedTotals(written, new Set(WATCHED)).values()].reduce((s, t) => s + t.count, 0);
    const seenCount = () =>
      slack.received.flatMap((r) => rowsOf(r.body).rows).reduce((s, row) => s + row.count, 0);
    await eventually(() => seenCount() >= wanted, 20_000, 'digests of every window');
    // A marker cash-out in a later window: once its digest is in and no delivery is pending, every
    // window before it has been closed and sent, so a repeated digest would show up now.
    write([pixLine(WATCHED[0] as string, 4242, 'pix.cashout')]);
    await eventually(() => seenCount() >= wanted + 1, 20_000, "the marker's digest");
    await eventually(async () => (await api(hub, '/api/v1/deliveries?status=pending')).body.items.length === 0, 10_000, 'no digest on its way');
    const watched = expectedTotals(written, new Set(WATCHED));

    const digests = slack.received.map((r) => rowsOf(r.body));
    // One message per window.
    expect(new Set(digests.map((d) => d.window)).size).toBe(digests.length);
    const summed = new Map<string, { count: number; totalCents: number }>();
    for (const row of digests.flatMap((d) => d.rows)) {
      const t = summed.get(row.account) ?? { count: 0, totalCents: 0 };
      t.count += row.count;
      t.totalCents += row.totalCents;
      summed.set(row.account, t);
    }
    // Watched accounts only, every cash-out once: nothing repeated, nothing lost across the restart.
    expect(Object.fromEntries(summed)).toEqual(Object.fromEntries(watched));
    expect(slack.received.every((r) => typeof r.body.text === 'string' && r.body.text.startsWith('Saques Pix: '))).toBe(true);

    // The records count everything, unwatched accounts too.
    const record = await api(hub, '/api/v1/entities/account/9999-0');
    expect(record.body.parts.cashouts).toMatchObject({ count: all.get('9999-0')?.count, totalCents: all.get('9999-0')?.totalCents });
    const sources = await api(hub, '/api/v1/sources');
    expect(sources.body.sources[0]).toMatchObject({ name: 'pix-log', kind: 'log-tail', consecutiveFailures: 0 });
    expect(sources.body.sources[0].lastRun.rejected).toBe(0);
  });
});
