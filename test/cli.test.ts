// The `confluo` command as a user runs it: first start generates and prints
// credentials, keeps them (mode 0600) and reuses them; bad config fails clearly.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, tempDir } from './support/index.js';

const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin/confluo.mjs');
const config = join(root, 'examples/customer-sync/confluo.config.ts');
const baseEnv = () => {
  const env: NodeJS.ProcessEnv = { ...process.env, CONFLUO_LOG_LEVEL: 'info' };
  delete env.CONFLUO_API_KEYS;
  delete env.CONFLUO_ADMIN_TOKEN;
  delete env.CONFLUO_DB;
  delete env.CONFLUO_PORT;
  return env;
};

interface Running {
  child: ChildProcess;
  url: string;
  stderr: () => string;
}

function startCli(args: string[], env: NodeJS.ProcessEnv): Promise<Running> {
  const child = spawn(process.execPath, [bin, 'start', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hub did not start: ${err}`)), 20_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('Confluo listening on'));
      if (line) {
        clearTimeout(timer);
        resolve({ child, url: JSON.parse(line).url, stderr: () => err });
      }
    });
    child.on('exit', (code) => reject(new Error(`hub exited with ${code}: ${err}`)));
  });
}

const stop = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });

describe('confluo start', () => {
  const cleanups: Array<() => void | Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('generates an API key and admin token on first start, prints them, keeps them private, and reuses them', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const args = ['--config', config, '--port', '0', '--db', `sqlite:${join(dir.path, 'data', 'confluo.db')}`];
    const first = await startCli(args, baseEnv());
    cleanups.push(() => stop(first.child));
    const file = join(dir.path, 'data', 'credentials.json');
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(first.stderr()).toContain(stored.apiKey);
    expect(first.stderr()).toContain(stored.adminToken);

    const send = async (url: string, key: string) => {
      const r = await request(`${url}/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'preferences:updated', version: 1, id: `p-${Math.random()}`, flowId: 'f', payload: { documentType: 'CC', documentNumber: '1', language: 'pt-BR', marketingOptIn: false } }),
      });
      return ((await r.body.json()) as { name: string }).name;
    };
    expect(await send(first.url, stored.apiKey)).toBe('preferences:updated:response');
    expect(await send(first.url, 'ck_wrong')).toBe('preferences:updated:unauthorized');
    const health = await request(`${first.url}/healthz`);
    expect(((await health.body.json()) as { status: string }).status).toBe('ok');
    expect(await stop(first.child)).toBe(0);

    const second = await startCli(args, baseEnv());
    cleanups.push(() => stop(second.child));
    expect(second.stderr()).not.toContain('Generated');
    expect(await send(second.url, stored.apiKey)).toBe('preferences:updated:response');

    const shown = spawnSync(process.execPath, [bin, 'credentials', '--db', `sqlite:${join(dir.path, 'data', 'confluo.db')}`], { cwd: root, env: baseEnv(), encoding: 'utf8' });
    expect(shown.stdout).toContain(stored.apiKey);
    expect(shown.stdout).toContain(stored.adminToken);
  });

  it('uses CONFLUO_API_KEYS (comma separated) and CONFLUO_ADMIN_TOKEN without generating anything', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const env = { ...baseEnv(), CONFLUO_API_KEYS: 'key-one-0123456789, key-two-0123456789', CONFLUO_ADMIN_TOKEN: 'admin-0123456789abcdef', CONFLUO_DATA_DIR: dir.path };
    const hub = await startCli(['--config', config, '--port', '0', '--db', `sqlite:${join(dir.path, 'c.db')}`], env);
    cleanups.push(() => stop(hub.child));
    expect(hub.stderr()).not.toContain('Generated');
    const read = await request(`${hub.url}/api/v1/parked`, { headers: { authorization: 'Bearer admin-0123456789abcdef' } });
    expect(read.statusCode).toBe(200);
    await read.body.dump();
  });

  it('runs only the roles it is given: --role ingest accepts events and applies none', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const env = { ...baseEnv(), CONFLUO_API_KEYS: 'key-one-0123456789', CONFLUO_ADMIN_TOKEN: 'admin-0123456789abcdef', CONFLUO_DATA_DIR: dir.path };
    const hub = await startCli(['--config', config, '--port', '0', '--role', 'ingest', '--db', `sqlite:${join(dir.path, 'r.db')}`], env);
    cleanups.push(() => stop(hub.child));
    const answer = await request(`${hub.url}/events`, {
      method: 'POST',
      headers: { authorization: 'Bearer key-one-0123456789', 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'crm:contact:updated', version: 1, id: 'r-1', flowId: 'f', payload: { documentType: 'CC', documentNumber: '1', name: 'Ana', email: 'ana@example.com' } }),
    });
    expect(((await answer.body.json()) as { payload: { status: string } }).payload.status).toBe('accepted');
    await new Promise((r) => setTimeout(r, 500));
    const health = await request(`${hub.url}/healthz`);
    expect(await health.body.json()).toMatchObject({ queued: 1, records: 0 });
    const bad = spawnSync(process.execPath, [bin, 'start', '--config', config, '--role', 'reader'], { cwd: root, env: baseEnv(), encoding: 'utf8', timeout: 20_000 });
    expect(bad.stderr).toMatch(/--role takes all, ingest, process, deliver, pull/);

    // A worker without the ingest role applies what the ingest process accepted, and sends senders there.
    const worker = await startCli(['--config', config, '--port', '0', '--role', 'process', '--db', `sqlite:${join(dir.path, 'r.db')}`], env);
    cleanups.push(() => stop(worker.child));
    await eventually(async () => ((await (await request(`${worker.url}/healthz`)).body.json()) as { records: number }).records === 1, 10_000, 'the worker to apply the event');
    const refused = await request(`${worker.url}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(refused.statusCode).toBe(404);
    expect(await refused.body.json()).toMatchObject({ error: { code: 'NOT_AN_INGEST_PROCESS' } });
    // Whatever the body's type: curl -d sends application/x-www-form-urlencoded.
    for (const [path, type] of [['/events', 'application/x-www-form-urlencoded'], ['/events/bulk', 'text/plain']] as const) {
      const form = await request(`${worker.url}${path}`, { method: 'POST', headers: { 'content-type': type }, body: '{"name":"x"}' });
      expect(form.statusCode).toBe(404);
      expect(await form.body.json()).toMatchObject({ error: { code: 'NOT_AN_INGEST_PROCESS' } });
    }
  });

  it('fails with a clear message for a missing config file, a bad port or an unknown database URL', () => {
    const run = (args: string[]) => spawnSync(process.execPath, [bin, 'start', ...args], { cwd: root, env: baseEnv(), encoding: 'utf8', timeout: 20_000 });
    const missing = run(['--config', 'nope.config.ts']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/config file .*nope.config.ts does not exist/);
    expect(run(['--config', config, '--port', 'eighty']).stderr).toMatch(/--port must be a port number/);
    expect(run(['--config', config, '--db', 'mysql://x']).stderr).toMatch(/not one Confluo knows/);
  });

  it('rejects a config file that does not export a flow, and says how to load a .ts config outside an ESM package', () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const run = (file: string) => spawnSync(process.execPath, [bin, 'start', '--config', file], { cwd: root, env: baseEnv(), encoding: 'utf8', timeout: 20_000 });
    const noFlow = join(dir.path, 'bad.config.mts');
    writeFileSync(noFlow, 'export default { port: 1 };\n');
    const result = run(noFlow);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/must export default defineConfig\(\{ flow, … \}\): flow: must be a flow made with defineFlow\(\)/);
    // Only the default export is read, so a named `config` alone is refused rather than checked and then ignored.
    const named = join(dir.path, 'named.config.mts');
    writeFileSync(named, 'export const config = { port: 1 };\n');
    expect(run(named).stderr).toMatch(/named\.config\.mts has no default export: export default defineConfig/);
    // A package.json without "type": "module" beside it makes a .ts file CommonJS, whatever lies above:
    // Node 20 then refuses its ESM syntax, and the CLI says how to fix that; Node 22.7+ detects the
    // syntax and loads the file as ESM, so it gets as far as the missing flow.
    writeFileSync(join(dir.path, 'package.json'), '{"type": "commonjs"}\n');
    const commonJsScope = join(dir.path, 'confluo.config.ts');
    writeFileSync(commonJsScope, 'export default { port: 1 };\n');
    const detectsSyntax = Number(process.versions.node.split('.')[0]) >= 22;
    expect(run(commonJsScope).stderr).toMatch(detectsSyntax ? /flow: must be a flow made with defineFlow\(\)/ : /hint: name it confluo.config.mts/);
  });
});
