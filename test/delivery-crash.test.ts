// Crash safety of outbound delivery (design guarantee 5): a real hub process
// delivers the support-desk integration's signed PUTs to a receiver in this
// test; the hub is killed with SIGKILL while one request is held open at the
// receiver (and others are in flight); a new hub starts on the same SQLite
// file. Every change must then be delivered at least once, every request for a
// delivery must carry that delivery's id as `webhook-id` (so the receiver can
// deduplicate), the held request must come again after the restart with the
// same id and body, and every signature must verify.
//
// A killed process's claimed deliveries become due again only when their lease
// runs out, so the hub runs with CONFLUO_DELIVERY_LEASE_MS=1000 (the default,
// 60 s, would make the restart wait a minute for the held delivery).
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Webhook } from 'standardwebhooks';
import { Pool, request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killAllHubs, killGroup, startHubProcess, stopHub } from './support/hub-process.js';
import { contact, envelope, eventually, tempDir } from './support/index.js';

const API_KEY = 'ck_delivery_crash_key_0123456789abcdef';
const ADMIN_TOKEN = 'cadm_delivery_crash_token_0123456789abcdef';
const EVENT = 'crm:contact:updated';
const INTEGRATION = 'support-desk';
const LEASE_MS = 1_000;

const KEYS = 10;
const PER_KEY = 20;
/** The receiver holds the first request that arrives after it has answered this many. */
const HOLD_AFTER_ANSWERED = 40;
/** Each answer comes after 30-80 ms, so several deliveries are in flight when the kill lands. */
const answerDelay = () => 30 + Math.floor(Math.random() * 51);

interface Seen {
  /** `webhook-id` header ('' when missing). */
  id: string;
  method: string;
  path: string;
  raw: string;
  key: string | undefined;
  version: number | undefined;
  at: number;
  verified: boolean;
}

interface Receiver {
  url: string;
  seen: Seen[];
  failures: string[];
  /** Requests received and not answered yet. */
  open: () => number;
  answered: () => number;
  /** Requests whose body never fully arrived (the hub died while sending it). */
  cut: () => number;
  /** Arms the hold: resolves with the request it holds open (never answered). */
  holdNext: (afterAnswered: number) => Promise<Seen>;
  close: () => Promise<void>;
}

// Everything a test started, undone in afterEach even when the test failed or timed out.
const servers = new Set<Server>();
const pools = new Set<Pool>();
const dirs: Array<{ remove: () => void }> = [];

async function startReceiver(secret: string): Promise<Receiver> {
  const webhook = new Webhook(secret);
  const seen: Seen[] = [];
  const failures: string[] = [];
  let open = 0;
  let answered = 0;
  let cut = 0;
  let hold: { after: number; resolve: (seen: Seen) => void } | undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      // The hub died while sending this request's body: nothing was received.
    }
    if (!req.complete) {
      cut += 1;
      return;
    }
    const raw = Buffer.concat(chunks).toString('utf8');
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value.join(',') : (value ?? '');
    };
    const id = header('webhook-id');
    let verified = false;
    try {
      webhook.verify(raw, { 'webhook-id': id, 'webhook-timestamp': header('webhook-timestamp'), 'webhook-signature': header('webhook-signature') });
      verified = true;
    } catch (error) {
      failures.push(`${req.method} ${req.url} ${id}: ${String(error)}`);
    }
    let body: { key?: unknown; version?: unknown } = {};
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      failures.push(`${req.method} ${req.url} ${id}: body is not JSON: ${raw.slice(0, 200)}`);
    }
    const entry: Seen = {
      id,
      method: req.method ?? '',
      path: req.url ?? '',
      raw,
      key: typeof body.key === 'string' ? body.key : undefined,
      version: typeof body.version === 'number' ? body.version : undefined,
      at: Date.now(),
      verified,
    };
    seen.push(entry);
    if (hold && answered >= hold.after) {
      // Held open on purpose: the hub is killed while it waits for this answer.
      const { resolve } = hold;
      hold = undefined;
      resolve(entry);
      return;
    }
    await new Promise((r) => setTimeout(r, answerDelay()));
    if (!res.destroyed) {
      res.writeHead(204).end();
      answered += 1;
    }
  };

  const server = createServer((req, res) => {
    open += 1;
    res.once('close', () => {
      open -= 1;
    });
    handle(req, res).catch((error: unknown) => {
      failures.push(`receiver error: ${String(error)}`);
      if (!res.destroyed) res.writeHead(500).end();
    });
  });
  servers.add(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    failures,
    open: () => open,
    answered: () => answered,
    cut: () => cut,
    holdNext: (after) =>
      new Promise<Seen>((resolve) => {
        hold = { after, resolve };
      }),
    close: () => closeServer(server),
  };
}

function closeServer(server: Server): Promise<void> {
  servers.delete(server);
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

// Only the support-desk integration runs.
const startHub = (dbPath: string, dataDir: string, env: Record<string, string>) =>
  startHubProcess({ dbPath, env: { CONFLUO_API_KEYS: API_KEY, CONFLUO_ADMIN_TOKEN: ADMIN_TOKEN, CONFLUO_DATA_DIR: dataDir, ...env }, drop: ['SLACK_WEBHOOK_URL'] });

async function admin(base: string, method: 'GET' | 'POST', path: string): Promise<{ status: number; body: any }> {
  const response = await request(`${base}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const text = await response.body.text();
  return { status: response.statusCode, body: text ? JSON.parse(text) : undefined };
}

afterEach(async () => {
  // Whatever happened, no hub outlives its test.
  await killAllHubs();
  await Promise.all([...pools].map((pool) => pool.destroy().catch(() => undefined)));
  pools.clear();
  await Promise.all([...servers].map((server) => closeServer(server)));
  for (const dir of dirs.splice(0)) dir.remove();
});

afterAll(async () => {
  await killAllHubs();
});

describe('a hub killed with SIGKILL mid-delivery', () => {
  it('delivers every change at least once after restart, a repeated delivery keeps its webhook-id, and every signature verifies', { timeout: 60_000 }, async () => {
    const started = Date.now();
    const dir = tempDir('confluo-delivery-crash-');
    dirs.push(dir);
    const dbPath = join(dir.path, 'confluo.db');
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const receiver = await startReceiver(secret);
    const env = {
      SUPPORT_DESK_URL: receiver.url,
      SUPPORT_DESK_SECRET: secret,
      SUPPORT_DESK_RETRY_SCHEDULE: '0s,200ms,500ms,1s,1s,1s,1s,1s',
      CONFLUO_DELIVERY_LEASE_MS: String(LEASE_MS),
    };

    const first = await startHub(dbPath, dir.path, env);
    // Paused while the events go in, so the kill lands in delivery, not in ingest
    // (the ingest crash test covers that); its deliveries wait, unharmed.
    const paused = await admin(first.url, 'POST', `/api/v1/integrations/${INTEGRATION}/pause`);
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);

    // One sender per key, each event acknowledged (`:response`, accepted) before the next;
    // every event renames the contact, so every one is a change.
    const pool = new Pool(first.url, { connections: KEYS, pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
    pools.add(pool);
    const keys = Array.from({ length: KEYS }, (_, k) => `CC-${7000 + k}`);
    const notAcked: string[] = [];
    await Promise.all(
      keys.map(async (key) => {
        for (let index = 0; index < PER_KEY; index++) {
          const body = envelope(EVENT, contact(key.slice(3), `n-${index}`));
          const response = await pool.request({
            path: '/events',
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
            body: JSON.stringify(body),
          });
          const answer = (await response.body.json()) as { name?: string; payload?: { status?: string; eventId?: string } };
          if (response.statusCode !== 200 || answer.name !== `${EVENT}:response` || answer.payload?.status !== 'accepted' || answer.payload.eventId !== body.id) {
            notAcked.push(`${key} #${index}: HTTP ${response.statusCode} ${JSON.stringify(answer)}`);
          }
        }
      }),
    );
    await pool.close();
    pools.delete(pool);
    expect(notAcked, 'events not acknowledged').toEqual([]);
    expect(receiver.seen, 'requests while the integration was paused').toEqual([]);

    // Deliveries flow; the receiver answers the first HOLD_AFTER_ANSWERED and holds the next one open.
    const held = receiver.holdNext(HOLD_AFTER_ANSWERED);
    const resumed = await admin(first.url, 'POST', `/api/v1/integrations/${INTEGRATION}/resume`);
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    let holdTimer: NodeJS.Timeout | undefined;
    const heldRequest = await Promise.race([
      held,
      new Promise<never>((_, reject) => {
        holdTimer = setTimeout(() => reject(new Error(`no request to hold within 20 s (answered ${receiver.answered()}, seen ${receiver.seen.length})\n${first.output()}`)), 20_000);
      }),
    ]).finally(() => clearTimeout(holdTimer));
    killGroup(first.process, 'SIGKILL');
    const killedAt = Date.now();
    const openAtKill = receiver.open();
    const seenAtKill = receiver.seen.length;
    const answeredAtKill = receiver.answered();
    const firstExit = await first.exited;
    expect(firstExit.signal).toBe('SIGKILL');
    // The kill landed mid-delivery: some requests answered, the held one (at least) unanswered.
    expect(answeredAtKill).toBeGreaterThanOrEqual(HOLD_AFTER_ANSWERED);
    expect(openAtKill, 'requests open at the receiver when the hub was killed').toBeGreaterThanOrEqual(1);
    expect(seenAtKill).toBeLessThan(KEYS * PER_KEY);
    expect(heldRequest.id, 'the held request has a webhook-id').toMatch(/\S/);

    // Restart on the same file; wait until nothing is queued for processing and nothing is pending delivery.
    const restartedAt = Date.now();
    const second = await startHub(dbPath, dir.path, env);
    const listeningAfterMs = Date.now() - restartedAt;
    await eventually(
      async () => {
        const [health, pending] = await Promise.all([
          request(`${second.url}/healthz`).then((r) => r.body.json() as Promise<{ queued?: number }>),
          admin(second.url, 'GET', '/api/v1/deliveries?status=pending&limit=1'),
        ]);
        return health.queued === 0 && pending.status === 200 && Array.isArray(pending.body?.items) && pending.body.items.length === 0;
      },
      30_000,
      'the restarted hub to process everything and have no pending delivery',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${second.output()}`);
    });
    const drainedAt = Date.now();
    const secondExit = await stopHub(second);
    expect(secondExit, second.output()).toEqual({ code: 0, signal: null });
    await receiver.close();

    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      const changes = db.prepare(`SELECT event_id, key, version FROM changes WHERE entity = 'customer' ORDER BY id`).all() as Array<{ event_id: string; key: string; version: number }>;
      const deliveries = db
        .prepare('SELECT delivery_id, integration, kind, entity, key, event_id, version, status, total_attempts FROM deliveries ORDER BY seq')
        .all() as Array<{ delivery_id: string; integration: string; kind: string; entity: string; key: string; event_id: string; version: number | null; status: string; total_attempts: number }>;
      const attempts = db.prepare('SELECT delivery_id, outcome, status, started_at FROM delivery_attempts ORDER BY id').all() as Array<{ delivery_id: string; outcome: string; status: number | null; started_at: number }>;

      // Every acknowledged event made one change.
      expect(changes.length, 'changes').toBe(KEYS * PER_KEY);

      // (a) Every change has exactly one support-desk delivery, succeeded; no other delivery exists.
      const desk = deliveries.filter((d) => d.integration === INTEGRATION);
      expect(deliveries.filter((d) => d.integration !== INTEGRATION).map((d) => `${d.integration} ${d.delivery_id}`), 'deliveries of other integrations').toEqual([]);
      expect(desk.length, 'support-desk deliveries').toBe(changes.length);
      const deliveriesOf = (c: { event_id: string; key: string; version: number }) => desk.filter((d) => d.event_id === c.event_id && d.entity === 'customer' && d.key === c.key && d.version === c.version);
      expect(changes.filter((c) => deliveriesOf(c).length !== 1).map((c) => `${c.key} v${c.version}: ${deliveriesOf(c).length} deliveries`), 'changes without exactly one delivery').toEqual([]);
      expect(desk.filter((d) => d.status !== 'succeeded').map((d) => `${d.delivery_id} ${d.key} v${d.version}: ${d.status}`), 'deliveries not succeeded').toEqual([]);
      // Each delivery's log ends in one success (a kill-cut attempt leaves no row; that is expected).
      const successes = new Map<string, number>();
      for (const a of attempts) if (a.outcome === 'succeeded') successes.set(a.delivery_id, (successes.get(a.delivery_id) ?? 0) + 1);
      expect(desk.filter((d) => successes.get(d.delivery_id) !== 1).map((d) => `${d.delivery_id}: ${successes.get(d.delivery_id) ?? 0} successful attempts`), 'deliveries without exactly one logged success').toEqual([]);

      // (d) Every request the receiver saw was a correctly signed PUT.
      expect(receiver.failures, 'signature or body failures').toEqual([]);
      expect(receiver.seen.filter((s) => !s.verified).length, 'unverified requests').toBe(0);
      expect(receiver.seen.filter((s) => s.method !== 'PUT').map((s) => `${s.method} ${s.path}`), 'requests other than PUT').toEqual([]);

      // (b) Every change was received at least once, and every request for a delivery carried its id.
      const byId = new Map(desk.map((d) => [d.delivery_id, d]));
      const requestsFor = (d: (typeof desk)[number]) => receiver.seen.filter((s) => s.path === `/customers/${encodeURIComponent(d.key)}` && s.version === d.version);
      expect(desk.filter((d) => requestsFor(d).length === 0).map((d) => `${d.key} v${d.version}`), 'changes never received').toEqual([]);
      expect(
        desk.flatMap((d) => requestsFor(d).filter((s) => s.id !== d.delivery_id).map((s) => `${d.key} v${d.version}: webhook-id ${s.id}, delivery ${d.delivery_id}`)),
        'requests whose webhook-id is not their delivery id',
      ).toEqual([]);
      // ...and nothing else: every webhook-id names a delivery whose key and version the request carries,
      // and a repeated delivery sends the very same body.
      expect(
        receiver.seen
          .filter((s) => {
            const d = byId.get(s.id);
            return !d || s.path !== `/customers/${encodeURIComponent(d.key)}` || s.key !== d.key || s.version !== d.version;
          })
          .map((s) => `${s.id} ${s.path} v${s.version}`),
        'requests that match no delivery',
      ).toEqual([]);
      const firstRaw = new Map<string, string>();
      const differentBodies: string[] = [];
      for (const s of receiver.seen) {
        const raw = firstRaw.get(s.id);
        if (raw === undefined) firstRaw.set(s.id, s.raw);
        else if (raw !== s.raw) differentBodies.push(s.id);
      }
      expect(differentBodies, 'repeats with a different body').toEqual([]);

      // (c) The request held open at the kill came again after the restart, with the same webhook-id.
      const heldDelivery = byId.get(heldRequest.id);
      expect(heldDelivery, `the held request's webhook-id ${heldRequest.id} names a delivery`).toBeDefined();
      const heldAgain = receiver.seen.filter((s) => s.id === heldRequest.id && s.at >= restartedAt);
      expect(heldAgain.length, `requests with the held webhook-id ${heldRequest.id} after the restart`).toBeGreaterThanOrEqual(1);
      expect(heldAgain.every((s) => s.raw === heldRequest.raw && s.path === heldRequest.path)).toBe(true);
      const counts = new Map<string, number>();
      for (const s of receiver.seen) counts.set(s.id, (counts.get(s.id) ?? 0) + 1);
      const repeated = [...counts].filter(([, n]) => n > 1);
      expect(repeated.length, 'webhook-ids received more than once').toBeGreaterThanOrEqual(1);

      // Ordered integration: each key's versions first arrive in order, 1..n, none skipped.
      for (const key of keys) {
        const firstSeen: number[] = [];
        for (const s of receiver.seen) if (s.key === key && s.version !== undefined && !firstSeen.includes(s.version)) firstSeen.push(s.version);
        expect(firstSeen, key).toEqual(Array.from({ length: PER_KEY }, (_, i) => i + 1));
      }

      console.info(
        `delivery crash test: ${changes.length} changes; killed after ${answeredAtKill} answered / ${seenAtKill} received, ${openAtKill} open at the kill ` +
          `(held ${heldRequest.path} v${heldRequest.version}); restarted hub listening after ${listeningAfterMs} ms, drained ${drainedAt - killedAt} ms after the kill; ` +
          `${receiver.seen.length} requests for ${desk.length} deliveries (${receiver.cut()} cut mid-body), ${repeated.length} webhook-ids repeated; ` +
          `held delivery resent ${heldAgain[0]!.at - killedAt} ms after the kill; total ${Date.now() - started} ms`,
      );
    } finally {
      db.close();
    }
  });
});
