// Every operator action, through the API or the CLI, is recorded: who (the
// key's name, or cli:<os user>), what, when, on what, and how it ended; the API
// and `confluo actions` list them newest first. Keys made with the CLI work in
// a running hub, and revoking one there stops it within a second.
import { spawn } from 'node:child_process';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, apiCall as call, contact, envelope, eventually, startTestHub, tempDir } from './support/index.js';

const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin/confluo.mjs');

/** Runs the CLI without blocking this process (a hub may be serving in it). */
function cli(dbPath: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args, '--db', `sqlite:${dbPath}`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('operator actions', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('records API actions with the key name, target and outcome, and lists them newest first; reads are not actions', async () => {
    const t = await startTestHub({ process: false });
    cleanups.push(() => t.close());
    const created = await call(t.url, 'POST', '/api/v1/keys', ADMIN_TOKEN, { name: 'night-shift', scopes: ['operate', 'read'] });
    const key = created.body.key as string;
    await call(t.url, 'POST', '/api/v1/parked/customer/CC-7/retry', key);
    await call(t.url, 'POST', '/api/v1/parked/customer/CC-8/skip', key);
    await call(t.url, 'GET', '/api/v1/parked', key);
    await call(t.url, 'POST', '/api/v1/parked/customer/CC-9/retry', 'ck_bad_key'); // refused before it is an action
    await call(t.url, 'DELETE', '/api/v1/keys/night-shift', ADMIN_TOKEN);

    const page = await call(t.url, 'GET', '/api/v1/operator-actions?limit=3', ADMIN_TOKEN);
    expect(page.status).toBe(200);
    expect(page.body.items.map((a: any) => [a.actor, a.action, a.target, a.outcome])).toEqual([
      ['config:admin-token', 'key.revoke', 'night-shift', 'done'],
      ['night-shift', 'parked.skip', 'customer/CC-8', '404 NOT_PARKED'],
      ['night-shift', 'parked.retry', 'customer/CC-7', '404 NOT_PARKED'],
    ]);
    expect(Date.parse(page.body.items[0].at)).toBeGreaterThan(Date.now() - 60_000);
    const rest = await call(t.url, 'GET', `/api/v1/operator-actions?limit=3&cursor=${page.body.next}`, ADMIN_TOKEN);
    expect(rest.body).toEqual({
      items: [expect.objectContaining({ actor: 'config:admin-token', action: 'key.create', target: 'night-shift', outcome: 'done', details: { name: 'night-shift', scopes: ['operate', 'read'] } })],
      next: null,
    });
    expect(JSON.stringify(rest.body)).not.toContain(key);
  });

  it('keys made with the CLI work in a running hub, are listed with last use, stop within a second when revoked; CLI actions are recorded', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const dbPath = join(dir.path, 'confluo.db');
    const t = await startTestHub({ dbPath, process: false });
    cleanups.push(() => t.close());

    const made = await cli(dbPath, 'keys', 'create', '--name', 'crm', '--scope', 'ingest', '--events', 'crm:contact:updated');
    expect(made.code).toBe(0);
    const key = /\n {2}(ck_\S+)\n/.exec(made.stdout)?.[1];
    expect(key).toBeDefined();
    expect(made.stderr).toContain('shown once');

    const send = () => t.send(envelope('crm:contact:updated', contact('3001', 'Ana')), { authorization: `Bearer ${key}` });
    expect((await send()).body.name).toBe('crm:contact:updated:response');
    const listed = await eventually(async () => {
      const r = await cli(dbPath, 'keys', 'list');
      return /last used 20\d\d-/.test(r.stdout) && r.stdout;
    });
    expect(listed).toMatch(/^crm +ingest +created 20\d\d-\S+ {2}last used 20\d\d-\S+ {2}active {2}events crm:contact:updated$/m);

    expect((await cli(dbPath, 'keys', 'revoke', 'crm')).code).toBe(0);
    const revokedAt = Date.now();
    await eventually(async () => (await send()).body.name === 'crm:contact:updated:unauthorized', 3000, 'the hub to refuse the revoked key');
    expect(Date.now() - revokedAt).toBeLessThan(2500);
    expect((await cli(dbPath, 'keys', 'revoke', 'crm')).code).toBe(1);
    expect((await cli(dbPath, 'parked', 'retry', 'customer', 'CC-1')).code).toBe(1);

    const actions = await cli(dbPath, 'actions', '--limit', '10');
    const who = `cli:${userInfo().username}`;
    const lines = actions.stdout.trim().split('\n').map((l) => l.replace(/^#\d+ \S+ {2}/, ''));
    expect(lines).toEqual([
      `${who}  parked.retry customer/CC-1  not parked`,
      `${who}  key.revoke crm  not found`,
      `${who}  key.revoke crm  done`,
      `${who}  key.create crm  done  {"scopes":["ingest"],"events":["crm:contact:updated"],"signed":false}`,
    ]);
  }, 60_000);
});
