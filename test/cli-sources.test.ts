// `confluo sources …` as an operator runs it, against the Pix monitor example
// on a real log file and a real SQLite file, with no hub running.
import { spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appendPixLog, pixLine } from './support/pix-log.js';
import { tempDir } from './support/index.js';

const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin/confluo.mjs');
const config = join(root, 'examples/pix-monitor/confluo.config.ts');

describe('confluo sources', () => {
  const dirs: Array<{ remove: () => void }> = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) d.remove();
  });

  function setup() {
    const dir = tempDir('confluo-cli-sources-');
    dirs.push(dir);
    const log = join(dir.path, 'pix.log');
    const db = `sqlite:${join(dir.path, 'confluo.db')}`;
    const env: NodeJS.ProcessEnv = { ...process.env, PIX_LOG_PATH: log, PIX_PAGE_LINES: '4' };
    delete env.CONFLUO_DB;
    const confluo = (...args: string[]) => {
      const r = spawnSync(process.execPath, [bin, ...args, '--db', db], { cwd: root, env, encoding: 'utf8', input: '' });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    // Operator commands work on a database that exists; migrate is the one that creates it.
    expect(confluo('migrate').code).toBe(0);
    return { log, cli: (...args: string[]) => confluo('sources', ...args) };
  }

  it('runs a source by hand with progress, lists it, shows its rejects, and resets its checkpoint after confirmation', () => {
    const { log, cli } = setup();
    appendPixLog(log, Array.from({ length: 9 }, (_, i) => pixLine(`ACC-${i % 2}`, 1000 + i)));
    appendFileSync(log, '{"timestamp": "not json\n');
    appendPixLog(log, [pixLine('ACC-9', -5)]);

    const run = cli('run', 'pix-log', '--config', config);
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary).toMatchObject({ source: 'pix-log', trigger: 'manual', status: 'succeeded', accepted: 9, rejected: 2, duplicates: 0 });
    expect(summary.startedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(run.stderr).toMatch(/page 1: 4 items, 4 new events, 0 rejected/);
    expect(run.stderr.match(/^page \d+:/gm)?.length).toBe(summary.pages);

    const list = cli('list');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^pix-log {2}log-tail {2}every 5s {2}ok/m);
    expect(list.stdout).toMatch(/last run .* manual succeeded: \d+ pages, 11 items, 9 accepted, 0 duplicates, 2 rejected/);

    const rejected = cli('rejected', 'pix-log');
    expect(rejected.code).toBe(0);
    expect(rejected.stdout).toMatch(/not json|JSON/);
    expect(rejected.stdout).toMatch(/amountCents/);
    expect(cli('rejected', 'pix-log', '--limit', '1').stdout).toMatch(/\(more: --after \d+\)/);

    const refused = cli('reset-checkpoint', 'pix-log');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/needs confirmation: run it in a terminal, or pass --yes/);
    const reset = cli('reset-checkpoint', 'pix-log', '--yes');
    expect(reset.code).toBe(0);
    expect(reset.stdout).toMatch(/checkpoint forgotten/);

    // Read again from the start: the same lines are the same events, so nothing is accepted twice.
    const again = JSON.parse(cli('run', 'pix-log', '--config', config).stdout);
    expect(again).toMatchObject({ status: 'succeeded', accepted: 0, duplicates: 9, rejected: 2 });
  });

  it('says clearly what is wrong', () => {
    const { cli } = setup();
    expect(cli('run', 'pix-log').stderr).toMatch(/needs the hub config \(--config <file>\)/);
    const unknown = cli('run', 'nope', '--config', config);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no source is named "nope"/);
    expect(cli('rejected', 'nope').stderr).toMatch(/no source named nope/);
    expect(cli('rejected', 'pix-log', '--limit', 'x').stderr).toMatch(/--limit must be a whole number/);
  });
});
