// A hub that starts on a backlog (after downtime, or a burst) keeps answering
// while its processor drains it: the processor yields to the event loop
// between batches, even when every store call it awaits is synchronous.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { contact, envelope, startTestHub, tempDir, type TestHub } from './support/index.js';

const hubs: TestHub[] = [];
const dirs: Array<{ remove: () => void }> = [];
afterEach(async () => {
  for (const hub of hubs.splice(0)) await hub.close();
  for (const dir of dirs.splice(0)) dir.remove();
});

describe('a hub on a backlog', () => {
  it('answers health checks and takes new events while it drains 30,000 queued events', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    dirs.push(dir);
    const dbPath = join(dir.path, 'backlog.db');
    const store = new SqliteStore({ path: dbPath });
    await store.init();
    for (let i = 0; i < 30_000; i += 5_000) {
      await store.inbox.accept(
        Array.from({ length: 5_000 }, (_, j) => {
          const e = envelope('crm:contact:updated', contact(String((i + j) % 3_000), `N${i + j}`));
          return { eventId: e.id, name: e.name, version: 1, flowId: e.flowId, entity: 'customer', key: `CC-${(i + j) % 3_000}`, envelope: e, acceptedAt: Date.now() };
        }),
      );
    }
    await store.close();

    const hub = await startTestHub({ dbPath });
    hubs.push(hub);
    // Answered while events are still queued: not held until the backlog is gone.
    const health = (await (await request(`${hub.url}/healthz`)).body.json()) as { queued: number };
    expect(health.queued).toBeGreaterThan(0);
    const accepted = await hub.send(envelope('crm:contact:updated', contact('9999', 'Late')));
    expect(accepted.body.payload.status).toBe('accepted');
    expect(((await (await request(`${hub.url}/healthz`)).body.json()) as { queued: number }).queued).toBeGreaterThan(0);
  });
});
