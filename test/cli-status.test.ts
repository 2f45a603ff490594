// `confluo status` and `confluo monitors`, run as a person runs them, against
// the database a running hub uses: a table by default, JSON with --json, and
// exit codes scripts can use (0 all up, 1 something down).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { defineMonitor } from '../src/index.js';
import { eventually, startTestHub, tempDir } from './support/index.js';

const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin/confluo.mjs');
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function confluo(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['CONFLUO_DB', 'CONFLUO_DATA_DIR', 'NO_COLOR']) delete env[name];
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], { cwd, env, encoding: 'utf8', timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('confluo status and confluo monitors', () => {
  it('show processes and monitors as tables or JSON, exit 0 while all is up and 1 when a service is down; pause and resume from the CLI', { timeout: 60_000 }, async () => {
    const dir = tempDir('confluo-cli-status-');
    cleanups.push(() => dir.remove());
    const crm: Server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => crm.listen(0, '127.0.0.1', resolve));
    const crmUrl = `http://127.0.0.1:${(crm.address() as { port: number }).port}/health`;
    cleanups.push(() => new Promise((resolve) => crm.close(resolve)));
    const monitors = [defineMonitor({ name: 'crm', kind: 'http', url: crmUrl, intervalMs: 1000, timeoutMs: 500 }), defineMonitor({ name: 'nightly', kind: 'push', intervalMs: 3_600_000 })];
    writeFileSync(join(dir.path, 'package.json'), '{"type": "module"}\n');
    writeFileSync(
      join(dir.path, 'confluo.config.ts'),
      `import { defineConfig, defineMonitor } from ${JSON.stringify(join(root, 'src/index.ts'))};
import { flow } from ${JSON.stringify(join(root, 'examples/customer-sync/flow.ts'))};
export default defineConfig({
  flow,
  db: 'sqlite:./confluo.db',
  monitors: [
    defineMonitor({ name: 'crm', kind: 'http', url: ${JSON.stringify(crmUrl)}, intervalMs: 1000, timeoutMs: 500 }),
    defineMonitor({ name: 'nightly', kind: 'push', intervalMs: 3600000 }),
  ],
});
`,
    );
    const t = await startTestHub({ dbPath: join(dir.path, 'confluo.db'), monitors, heartbeat: { intervalMs: 200 } });
    cleanups.push(() => t.close());
    await eventually(async () => (await t.get('/api/v1/monitors/crm')).body.state === 'up', 10_000, 'crm up');

    const up = await confluo(dir.path, 'status');
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/^UP at \d{4}-\d\d-\d\dT/);
    expect(up.stdout).toContain(t.hub.processId);
    expect(up.stdout).toMatch(/crm\s+http\s+up/);
    // Defined in the config but never beaten yet: shown all the same.
    expect(up.stdout).toMatch(/nightly\s+push\s+new/);
    const json = await confluo(dir.path, 'status', '--json');
    const view = JSON.parse(json.stdout) as { status: string; processes: Array<{ id: string; state: string; loops: unknown[] }>; monitors: Array<{ name: string; state: string }> };
    expect(view.status).toBe('up');
    expect(view.processes[0]).toMatchObject({ id: t.hub.processId, state: 'up' });
    expect(view.monitors.map((m) => `${m.name} ${m.state}`)).toEqual(['crm up', 'nightly new']);

    await new Promise((resolve) => crm.close(resolve));
    crm.closeAllConnections();
    await eventually(async () => (await t.get('/api/v1/monitors/crm')).body.state === 'down', 10_000, 'crm down');
    const down = await confluo(dir.path, 'status');
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/^DOWN/);
    expect(down.stdout).toMatch(/crm\s+http\s+down/);

    const list = await confluo(dir.path, 'monitors', 'list');
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/crm\s+http\s+down/);
    expect(list.stdout).toContain('push beats');
    const transitions = await confluo(dir.path, 'monitors', 'transitions', 'crm', '--json');
    expect((JSON.parse(transitions.stdout) as { items: Array<{ from: string; to: string }> }).items.map((i) => `${i.from}→${i.to}`)).toEqual(['up→down', 'new→up']);

    const paused = await confluo(dir.path, 'monitors', 'pause', 'crm');
    expect(paused.code, paused.stderr).toBe(0);
    expect((await t.get('/api/v1/monitors/crm')).body.state).toBe('paused');
    // A paused monitor is nobody's alarm: all is up again as far as scripts are concerned.
    expect((await confluo(dir.path, 'status')).code).toBe(0);
    const resumed = await confluo(dir.path, 'monitors', 'resume', 'crm');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('resumed');
    const unknown = await confluo(dir.path, 'monitors', 'pause', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no monitor named nope');
  });
});
