// A hub whose log is on a full disk (`npm start > hub.log` with no space left):
// stdout is /dev/full, where every write fails with ENOSPC. The hub must go on
// taking and applying events, answer /healthz, and stop cleanly on SIGTERM.
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, killAllHubs, startHubProcess, stopHub } from './support/hub-process.js';
import { contact, envelope, eventually, tempDir } from './support/index.js';

const API_KEY = 'ck_full_disk_key_0123456789abcdef';
const ADMIN_TOKEN = 'cadm_full_disk_token_0123456789abcdef';

const undo: Array<() => void> = [];
afterEach(async () => {
  await killAllHubs();
  for (const step of undo.splice(0).reverse()) step();
});

async function call(url: string, path: string, init: { method?: 'GET' | 'POST'; token: string; body?: unknown }) {
  const response = await request(`${url}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${init.token}`, 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: response.statusCode, body: (await response.body.json()) as any };
}

describe('a hub whose log is on a full disk', () => {
  it('keeps taking and applying events, answers /healthz, and exits cleanly on SIGTERM', { timeout: 60_000 }, async () => {
    const dir = tempDir('confluo-full-log-');
    undo.push(dir.remove);
    const full = openSync('/dev/full', 'w');
    undo.push(() => closeSync(full));
    const hub = await startHubProcess({
      dbPath: join(dir.path, 'confluo.db'),
      stdout: full,
      port: await freePort(),
      env: { CONFLUO_API_KEYS: API_KEY, CONFLUO_ADMIN_TOKEN: ADMIN_TOKEN, CONFLUO_DATA_DIR: dir.path, CONFLUO_LOG_LEVEL: 'debug' },
    });

    // Enough events that the hub logs while taking and applying them, each line failing.
    const sent = Array.from({ length: 20 }, (_, i) => envelope('crm:contact:updated', contact(String(1000 + i), `Name${i}`)));
    for (const event of sent) {
      const answer = await call(hub.url, '/events', { method: 'POST', token: API_KEY, body: event });
      expect(answer.body.name, JSON.stringify(answer.body)).toBe('crm:contact:updated:response');
    }
    for (const event of sent) {
      await eventually(async () => (await call(hub.url, `/api/v1/events/${event.id}`, { token: ADMIN_TOKEN })).body.status === 'processed', 10_000, `event ${event.id} applied`);
    }
    expect((await call(hub.url, '/healthz', { token: ADMIN_TOKEN })).status).toBe(200);

    expect(await stopHub(hub, 10_000), hub.output()).toEqual({ code: 0, signal: null });
    expect(hub.output()).toContain('cannot write the log (ENOSPC)');
  });

  it('starts with stderr on the full disk too, even when it generates credentials to show there', { timeout: 60_000 }, async () => {
    const dir = tempDir('confluo-full-log-');
    undo.push(dir.remove);
    const full = openSync('/dev/full', 'w');
    undo.push(() => closeSync(full));
    const hub = await startHubProcess({
      dbPath: join(dir.path, 'confluo.db'),
      stdout: full,
      stderr: full,
      port: await freePort(),
      env: { CONFLUO_DATA_DIR: dir.path },
      drop: ['CONFLUO_API_KEYS', 'CONFLUO_ADMIN_TOKEN'],
    });
    const { apiKey } = JSON.parse(readFileSync(join(dir.path, 'credentials.json'), 'utf8')) as { apiKey: string };
    const answer = await call(hub.url, '/events', { method: 'POST', token: apiKey, body: envelope('crm:contact:updated', contact('2000', 'Ana')) });
    expect(answer.body.name).toBe('crm:contact:updated:response');
    expect(await stopHub(hub, 10_000)).toEqual({ code: 0, signal: null });
  });
});
