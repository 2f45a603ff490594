// Every operator command finds its database as `confluo start` does: here the
// `db` of ./confluo.config.ts, with no --db and no CONFLUO_DB. Each one runs
// against the database such a start left behind, and each one but `migrate`
// refuses to create a database that is not there, naming the path.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/postgres.js';
import { eventually, tempDir } from './support/index.js';

const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin/confluo.mjs');

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, CONFLUO_LOG_LEVEL: 'info' };
  for (const name of ['CONFLUO_DB', 'CONFLUO_DATA_DIR', 'CONFLUO_API_KEYS', 'CONFLUO_ADMIN_TOKEN', 'CONFLUO_PORT']) delete e[name];
  return e;
}

/** A project folder whose confluo.config.ts keeps its database at `db` (relative to the folder). */
function project(db: string): { path: string; remove: () => void } {
  const dir = tempDir('confluo-cli-operator-');
  writeFileSync(join(dir.path, 'package.json'), '{"type": "module"}\n');
  writeFileSync(
    join(dir.path, 'confluo.config.ts'),
    `import { defineConfig, defineIntegration, functionSink } from ${JSON.stringify(join(root, 'src/index.ts'))};
import { customer, flow } from ${JSON.stringify(join(root, 'examples/customer-sync/flow.ts'))};
export default defineConfig({
  flow,
  db: ${JSON.stringify(db)},
  integrations: [defineIntegration({ name: 'crm-copy', on: { entity: customer }, map: ({ key }) => ({ body: { key } }), sink: functionSink(async () => undefined) })],
});
`,
  );
  return dir;
}

async function confluo(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], { cwd, env: env(), encoding: 'utf8', timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

function start(cwd: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [bin, 'start', '--port', '0'], { cwd, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('Confluo listening on'));
      if (line) resolve({ child, url: JSON.parse(line).url });
    });
    child.on('exit', (code) => reject(new Error(`hub exited with ${code}: ${err}`)));
  });
}

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

describe('operator commands find the database start used', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  // A dozen CLI processes one after another (each loads TypeScript through tsx).
  it('runs each command on the database of the config-level db a start left behind', { timeout: 180_000 }, async () => {
    const dir = project('sqlite:./state/hub.db');
    cleanups.push(dir.remove);
    const hub = await start(dir.path);
    cleanups.push(() => stop(hub.child));
    const { apiKey, adminToken } = JSON.parse(readFileSync(join(dir.path, 'state', 'credentials.json'), 'utf8'));
    const answer = await request(`${hub.url}/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'crm:contact:updated', version: 1, id: 'evt-op-1', flowId: 'f', payload: { documentType: 'CC', documentNumber: '7', name: 'Ana', email: 'ana@example.com' }, metadata: { wait: true } }),
    });
    expect(((await answer.body.json()) as { payload: { status: string } }).payload.status).toBe('processed');
    await eventually(async () => {
      const r = await request(`${hub.url}/api/v1/deliveries?status=succeeded`, { headers: { authorization: `Bearer ${adminToken}` } });
      return ((await r.body.json()) as { items: unknown[] }).items.length === 1;
    }, 10_000, 'the delivery');
    await stop(hub.child);

    const run = (...args: string[]) => confluo(dir.path, ...args);
    const parked = await run('parked', 'list');
    const event = await run('events', 'show', 'evt-op-1');
    const deliveries = await run('deliveries', 'list');
    const integrations = await run('integrations', 'list');
    const sources = await run('sources', 'list');
    const rejected = await run('sources', 'rejected', 'nope');
    const credentials = await run('credentials');
    const migrate = await run('migrate');
    expect(parked).toMatchObject({ code: 0, stdout: 'no parked keys\n' });
    expect(event.code, event.stderr).toBe(0);
    expect(JSON.parse(event.stdout)).toMatchObject({ eventId: 'evt-op-1', status: 'processed', key: 'CC-7' });
    expect(deliveries.stdout).toMatch(/crm-copy +succeeded +customer\/CC-7/);
    expect(integrations.stdout).toMatch(/^crm-copy +active +pending 0, succeeded 1/m);
    expect(sources.stdout).toMatch(/^no sources/);
    expect(rejected.stderr).toMatch(/no source named nope/);
    expect(credentials.stdout).toContain(apiKey);
    expect(migrate).toMatchObject({ code: 0, stdout: expect.stringMatching(/^sqlite database sqlite:\.\/state\/hub\.db is at the schema this Confluo knows\n$/) });

    // Writes go to the same file, one after another.
    expect((await run('keys', 'create', '--name', 'ops', '--scope', 'read')).code).toBe(0);
    expect((await run('keys', 'list')).stdout).toMatch(/^ops +read/m);
    expect((await run('actions')).stdout).toMatch(/key\.create ops +done/);

    const target = await createTestDatabase('cli_operator_copy');
    cleanups.push(target.drop);
    const copied = await run('copy', '--to', target.url);
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.stdout).toMatch(/inbox 1, records 1, .*deliveries 1, .*api_keys 1, operator_actions 1/);
  });

  it('refuses to create a database that does not exist, naming the path, except migrate, which says it created it', { timeout: 180_000 }, async () => {
    const dir = project('sqlite:./nowhere/hub.db');
    cleanups.push(dir.remove);
    const file = join(dir.path, 'nowhere', 'hub.db');
    // One command of each family; they all open their database through the same path.
    const commands = [
      ['parked', 'list'],
      ['events', 'show', 'evt-1'],
      ['deliveries', 'retry', 'msg_1'],
      ['integrations', 'pause', 'crm-copy'],
      ['sources', 'list'],
      ['keys', 'create', '--name', 'ops', '--scope', 'read'],
      ['actions'],
    ];
    for (const args of commands) {
      const r = await confluo(dir.path, ...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain(`no database at ${file} (named by the db of ${join(dir.path, 'confluo.config.ts')}); this command does not create one`);
    }
    expect((await confluo(dir.path, 'copy', '--to', 'postgres://confluo@127.0.0.1:1/confluo')).stderr).toContain(`no database at ${file} to copy from`);
    expect(existsSync(join(dir.path, 'nowhere'))).toBe(false);

    const migrate = await confluo(dir.path, 'migrate');
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(migrate.stdout).toContain(`created ${file} (named by the db of ${join(dir.path, 'confluo.config.ts')})`);
    expect(existsSync(file)).toBe(true);
    expect((await confluo(dir.path, 'parked', 'list')).stdout).toBe('no parked keys\n');
  });
});
