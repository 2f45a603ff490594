// Crash safety of a real hub process: events stream in from concurrent senders,
// the hub is killed with SIGKILL mid-stream (no shutdown hook runs), a new hub
// starts on the same SQLite file, and the file must show that every event that
// got `:response` / accepted before the kill was applied exactly once, in each
// key's order, and that nothing was applied that the test did not send.
// (Design guarantees 1, 2, 3 and 4, end to end across a crash.)
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Pool, request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killAllHubs, killGroup, startHubProcess, stopHub } from './support/hub-process.js';
import { contact, envelope, eventually, tempDir } from './support/index.js';

const API_KEY = 'ck_crash_test_key_0123456789abcdef';
const ADMIN_TOKEN = 'cadm_crash_test_token_0123456789abcdef';
const EVENT = 'crm:contact:updated';

const KEYS = 20;
/** Upper bound per key, so a hub that never dies still ends the test. */
const MAX_PER_KEY = 5_000;
const MIN_ACKS_BEFORE_KILL = 100;

// Everything a test started, undone in afterEach even when the test failed or timed out.
const pools = new Set<Pool>();
const dirs: Array<{ remove: () => void }> = [];

const startHub = (dbPath: string, dataDir: string) =>
  startHubProcess({ dbPath, env: { CONFLUO_API_KEYS: API_KEY, CONFLUO_ADMIN_TOKEN: ADMIN_TOKEN, CONFLUO_DATA_DIR: dataDir } });

afterEach(async () => {
  // Whatever happened, no hub outlives its test.
  await killAllHubs();
  await Promise.all([...pools].map((pool) => pool.destroy().catch(() => undefined)));
  pools.clear();
  for (const dir of dirs.splice(0)) dir.remove();
});

afterAll(async () => {
  await killAllHubs();
});

type Outcome = 'acked' | 'failed' | 'other';
interface Sent {
  id: string;
  key: string;
  index: number;
  name: string;
  outcome?: Outcome;
  detail?: string;
}

describe('a hub killed with SIGKILL mid-stream', () => {
  it('applies every acknowledged event exactly once after restart, in per-key order, and nothing else', { timeout: 60_000 }, async () => {
    const started = Date.now();
    const dir = tempDir('confluo-crash-');
    dirs.push(dir);
    const dbPath = join(dir.path, 'confluo.db');

    const first = await startHub(dbPath, dir.path);
    // Keep-alive connections, one per sender, so most requests ride an open socket when the hub dies.
    const pool = new Pool(first.url, { connections: KEYS, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 5_000, bodyTimeout: 5_000 });
    pools.add(pool);

    const keys = Array.from({ length: KEYS }, (_, k) => `CC-${9000 + k}`);
    const sentByKey = new Map<string, Sent[]>(keys.map((key) => [key, []]));
    const all = new Map<string, Sent>();
    let acks = 0;

    // One sender per key: its events go one after another (the next only after
    // the previous was acknowledged), so per key the sent sequence is a prefix of
    // acknowledged events plus at most one in flight when the hub dies.
    const sender = async (key: string) => {
      const number = key.slice(3);
      for (let index = 0; index < MAX_PER_KEY; index++) {
        const name = `n-${index}`;
        const body = envelope(EVENT, contact(number, name));
        const sent: Sent = { id: body.id, key, index, name };
        sentByKey.get(key)!.push(sent);
        all.set(sent.id, sent);
        try {
          const response = await pool.request({
            path: '/events',
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
            body: JSON.stringify(body),
          });
          const answer = (await response.body.json()) as { name?: string; payload?: { status?: string; eventId?: string } };
          if (response.statusCode === 200 && answer.name === `${EVENT}:response` && answer.payload?.status === 'accepted' && answer.payload.eventId === sent.id) {
            sent.outcome = 'acked';
            acks += 1;
            continue;
          }
          sent.outcome = 'other';
          sent.detail = `HTTP ${response.statusCode} ${JSON.stringify(answer)}`;
          return;
        } catch (error) {
          // Socket closed / reset / refused: no answer. The event may or may not have been committed.
          sent.outcome = 'failed';
          sent.detail = String(error);
          return;
        }
      }
    };
    const senders = Promise.all(keys.map(sender));

    // Kill once the stream is well under way: enough acks, plus a random 300-800 ms
    // so the kill lands at different points of ingest and processing on each run.
    const killAfter = 300 + Math.floor(Math.random() * 500);
    const streamStart = Date.now();
    await eventually(() => acks >= MIN_ACKS_BEFORE_KILL && Date.now() - streamStart >= killAfter, 10_000, `${MIN_ACKS_BEFORE_KILL} acks`);
    const acksAtKill = acks;
    const killedAfterMs = Date.now() - streamStart;
    killGroup(first.process, 'SIGKILL');
    const firstExit = await first.exited;
    expect(firstExit.signal).toBe('SIGKILL');

    // Every sender ends at its first failure.
    let sendersTimer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        senders,
        new Promise((_, reject) => {
          sendersTimer = setTimeout(() => reject(new Error('senders did not stop after the kill')), 10_000);
        }),
      ]);
    } finally {
      clearTimeout(sendersTimer);
    }
    await pool.destroy();
    pools.delete(pool);

    const sentList = [...all.values()];
    const acked = sentList.filter((s) => s.outcome === 'acked');
    const failed = sentList.filter((s) => s.outcome === 'failed');
    const others = sentList.filter((s) => s.outcome === 'other');
    // No answer other than `accepted` (no duplicate, no error) while the hub lived.
    expect(others.map((s) => `${s.id}: ${s.detail}`), 'answers other than accepted').toEqual([]);
    // The kill really happened mid-stream.
    expect(acked.length, 'acknowledged events').toBeGreaterThan(0);
    expect(acked.length).toBeGreaterThanOrEqual(acksAtKill);
    expect(failed.length, 'sends without an answer').toBeGreaterThan(0);
    for (const key of keys) {
      const list = sentByKey.get(key)!;
      // Per key: acked prefix, then exactly one failed send (nobody reached MAX_PER_KEY).
      expect(list.length, key).toBeLessThan(MAX_PER_KEY);
      expect(list.slice(0, -1).every((s) => s.outcome === 'acked'), key).toBe(true);
      expect(list.at(-1)?.outcome, key).toBe('failed');
    }

    // Restart on the same file and let it drain whatever was queued at the kill.
    const restartedAt = Date.now();
    const second = await startHub(dbPath, dir.path);
    const health = await eventually(async () => {
      const response = await request(`${second.url}/healthz`);
      const body = (await response.body.json()) as { status?: string; queued?: number; parkedKeys?: number };
      return response.statusCode === 200 && body.queued === 0 ? body : undefined;
    }, 10_000, 'the restarted hub to drain its queue');
    expect(health.parkedKeys, 'parked keys').toBe(0);
    const secondExit = await stopHub(second);
    expect(secondExit, second.output()).toEqual({ code: 0, signal: null });

    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      const inbox = db.prepare('SELECT seq, event_id, status, entity, key, processed_at FROM inbox ORDER BY seq').all() as Array<{
        seq: number;
        event_id: string;
        status: string;
        entity: string;
        key: string;
        processed_at: number | null;
      }>;
      const changes = db.prepare('SELECT id, event_id, entity, key, version FROM changes ORDER BY id').all() as Array<{ id: number; event_id: string; entity: string; key: string; version: number }>;
      const audit = db.prepare(`SELECT event_id, key, version, new_value FROM audit WHERE part = 'contact' AND field = 'name'`).all() as Array<{ event_id: string; key: string; version: number; new_value: string | null }>;
      const records = db.prepare(`SELECT key, version, parts FROM records WHERE entity = 'customer'`).all() as Array<{ key: string; version: number; parts: string }>;
      const inboxById = new Map(inbox.map((row) => [row.event_id, row]));
      const changesById = new Map<string, typeof changes>();
      for (const change of changes) changesById.set(change.event_id, [...(changesById.get(change.event_id) ?? []), change]);
      const auditById = new Map<string, typeof audit>();
      for (const row of audit) auditById.set(row.event_id, [...(auditById.get(row.event_id) ?? []), row]);

      // (b) Nothing phantom: every stored event was sent by this test, and all of them are settled.
      expect(inbox.filter((row) => !all.has(row.event_id)).map((row) => row.event_id), 'inbox events the test never sent').toEqual([]);
      expect(inbox.filter((row) => row.status !== 'processed').map((row) => `${row.event_id}: ${row.status}`), 'unsettled inbox events').toEqual([]);
      // (b) No event applied twice: one change (and one audit row for contact.name) per event at most.
      expect([...changesById].filter(([, rows]) => rows.length !== 1).map(([id, rows]) => `${id}: ${rows.length} changes`), 'events applied more than once').toEqual([]);
      expect([...auditById].filter(([, rows]) => rows.length !== 1).map(([id, rows]) => `${id}: ${rows.length} name audit rows`), 'events audited more than once').toEqual([]);
      expect(changes.filter((c) => !inboxById.has(c.event_id)).map((c) => c.event_id), 'changes without an inbox event').toEqual([]);
      // Every event renames the contact, so processed ⇔ exactly one change.
      expect(inbox.filter((row) => !changesById.has(row.event_id)).map((row) => row.event_id), 'processed events without a change').toEqual([]);

      // (a) Durable: every acknowledged event is in the inbox, processed, with exactly one change.
      const lost = acked.filter((s) => inboxById.get(s.id)?.status !== 'processed' || changesById.get(s.id)?.length !== 1);
      expect(lost.map((s) => `${s.id}: ${inboxById.get(s.id)?.status ?? 'missing'}, ${changesById.get(s.id)?.length ?? 0} changes`), 'acknowledged events lost or not applied once').toEqual([]);

      let inFlightApplied = 0;
      for (const key of keys) {
        const list = sentByKey.get(key)!;
        const ackedOfKey = list.filter((s) => s.outcome === 'acked');
        const inFlight = list.at(-1)!;
        const keyChanges = changes.filter((c) => c.entity === 'customer' && c.key === key).sort((a, b) => a.version - b.version);
        // (d) The event in flight at the kill (sent, no answer) may or may not have been
        // committed before the process died: both are correct. If it was, it is applied
        // once (checked above) and, being the key's last send, it comes last.
        const applied = inboxById.has(inFlight.id) ? [...ackedOfKey, inFlight] : ackedOfKey;
        if (applied.length > ackedOfKey.length) inFlightApplied += 1;
        // (c) Applied in the key's send order, versions 1..n with no gap, nothing skipped.
        expect(keyChanges.map((c) => c.event_id), key).toEqual(applied.map((s) => s.id));
        expect(keyChanges.map((c) => c.version), key).toEqual(applied.map((_, i) => i + 1));
        expect(inbox.filter((row) => row.entity === 'customer' && row.key === key).map((row) => row.event_id), key).toEqual(applied.map((s) => s.id));
        for (const [i, s] of applied.entries()) {
          const name = auditById.get(s.id)?.[0];
          expect(name && { version: name.version, newValue: name.new_value === null ? null : JSON.parse(name.new_value) }, s.id).toEqual({ version: i + 1, newValue: s.name });
        }
        // (c) The record is at version n and shows the last applied event's name.
        const record = records.find((r) => r.key === key);
        if (applied.length === 0) {
          expect(record, key).toBeUndefined();
        } else {
          expect(record?.version, key).toBe(keyChanges.length);
          expect((JSON.parse(record!.parts) as { contact?: { name?: string } }).contact?.name, key).toBe(applied.at(-1)!.name);
        }
      }
      expect(records.length, 'records').toBe(keys.filter((key) => sentByKey.get(key)!.some((s) => inboxById.has(s.id))).length);

      console.info(
        `crash test: killed after ${killedAfterMs} ms (target ${killAfter} ms), sent ${sentList.length}, acked ${acked.length}, ` +
          `in flight ${failed.length} (applied ${inFlightApplied}), changes ${changes.length}, ` +
          `processed after restart ${inbox.filter((row) => (row.processed_at ?? 0) >= restartedAt).length}, total ${Date.now() - started} ms`,
      );
    } finally {
      db.close();
    }
  });
});
