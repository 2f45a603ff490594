// `confluo deliveries …` and `confluo integrations …` as an operator runs
// them on a database a hub left behind: list, show with the attempt log,
// retry, pause, resume and replay, with clear errors for bad input.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defineIntegration } from '../src/delivery/integration.js';
import { functionSink } from '../src/delivery/sinks/function-sink.js';
import { NonRetryableError } from '../src/errors/index.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { ledgerFlow } from './support/flows.js';
import { envelope, eventually, startTestHub, tempDir } from './support/index.js';

const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin/confluo.mjs');

describe('confluo deliveries and integrations', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function databaseWithDeliveries() {
    const dir = tempDir('confluo-cli-deliveries-');
    cleanups.push(dir.remove);
    const dbPath = join(dir.path, 'confluo.db');
    const books = defineIntegration({
      name: 'books',
      on: { events: ['ledger:entry:posted'] },
      map: ({ key, payload }) => ({ body: { key, label: (payload as { label: string }).label } }),
      // The label says how the receiving end answers.
      sink: functionSink(async (request) => {
        if ((request.body as { label: string }).label.startsWith('bad')) throw new NonRetryableError('the books refused it');
      }),
    });
    const t = await startTestHub({ flow: ledgerFlow, dbPath, integrations: [books], dispatcher: { pollMs: 10 } });
    await t.send(envelope('ledger:entry:posted', { id: 'A', amount: 1, label: 'ok-1' }));
    await t.send(envelope('ledger:entry:posted', { id: 'B', amount: 2, label: 'bad-1' }));
    await eventually(async () => (await t.get('/api/v1/deliveries?limit=10')).body.items.every((d: { status: string }) => d.status !== 'pending'), 10_000, 'settled');
    await t.close();
    const cli = (...args: string[]) => {
      const r = spawnSync(process.execPath, [bin, ...args, '--db', `sqlite:${dbPath}`], { cwd: root, encoding: 'utf8' });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const store = async () => {
      const s = new SqliteStore({ path: dbPath });
      await s.init();
      cleanups.push(() => s.close());
      return s;
    };
    return { cli, store };
  }

  it('lists, shows and retries deliveries', async () => {
    const { cli, store } = await databaseWithDeliveries();
    const all = cli('deliveries', 'list');
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/books +succeeded +account\/A {2}attempts 1/);
    expect(all.stdout).toMatch(/books +failed +account\/B {2}attempts 1 .*last error: the books refused it/);
    const failed = cli('deliveries', 'list', '--status', 'failed');
    expect(failed.stdout.trim().split('\n')).toHaveLength(1);
    const id = failed.stdout.split(' ')[0] as string;

    const shown = cli('deliveries', 'show', id);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^${id} {2}books {2}failed {2}account/B`));
    expect(shown.stdout).toMatch(/#1 \S+ scheduled CALL function:anonymous → - failed \(\d+ ms\) the books refused it/);

    const retried = cli('deliveries', 'retry', id);
    expect(retried.stdout).toMatch(/will be sent again/);
    expect((await (await store()).deliveries.getDelivery(id))?.status).toBe('pending');

    expect(cli('deliveries', 'show', 'nope').stderr).toMatch(/no delivery with id nope/);
    expect(cli('deliveries', 'list', '--status', 'lost').stderr).toMatch(/--status must be one of pending, succeeded, failed, dead, ignored/);
  });

  it('pauses, resumes and replays an integration', async () => {
    const { cli } = await databaseWithDeliveries();
    expect(cli('integrations', 'list').stdout).toMatch(/^books +active +pending 0, succeeded 1, failed 1, dead 0, ignored 0/m);
    expect(cli('integrations', 'pause', 'books').stdout).toMatch(/books: active → paused \(deliveries wait, nothing is lost\)/);
    expect(cli('integrations', 'list').stdout).toMatch(/^books +paused .*\(paused by an operator\)/m);
    expect(cli('integrations', 'resume', 'books').stdout).toMatch(/books: paused → active/);
    expect(cli('integrations', 'pause', 'nope').stderr).toMatch(/no integration named nope/);

    const replay = cli('integrations', 'replay', 'books', '--since', '2000-01-01T00:00:00Z');
    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/2 deliveries of books will be sent again/);
    expect(cli('integrations', 'list').stdout).toMatch(/pending 2/);
    expect(cli('integrations', 'replay', 'books', '--since', '2000-01-01T00:00:00Z', '--until', '2000-01-02T00:00:00Z').stdout).toMatch(/nothing to replay/);
    expect(cli('integrations', 'replay', 'books', '--since', 'yesterday').stderr).toMatch(/--since must be an ISO time/);
  });
});
