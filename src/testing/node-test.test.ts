// The kit works under node:test too: runs kit.node-test.ts in its own Node
// process with node's test runner, as a user without vitest would.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;

describe('confluo/testing under node:test', () => {
  it('passes its node:test suite', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', 'src/testing/kit.node-test.ts'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/✔ an entry posted under node:test is applied and sent/);
    expect(run.stdout).toMatch(/pass 1\n.*fail 0/);
  });
});
