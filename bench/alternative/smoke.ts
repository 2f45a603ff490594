// Smoke run of the Fastify + BullMQ baseline (bench/alternative/fastify-bullmq.ts):
// `npx tsx bench/alternative/smoke.ts`. Needs Redis on 127.0.0.1:6379 (REDIS_URL
// overrides). Starts a local receiver, sends 2,000 events (50 keys × 40,
// sequential per key, keys concurrent), waits for all 2,000 deliveries, reports
// accept and end-to-end rates and whether each key's versions arrived in order,
// then closes the baseline and checks it left no Redis key behind.
// A benchmark aid, not a test: it exits non-zero only when the baseline is
// broken (lost or wrong data, leftover keys), never because of reordering,
// which it reports as a property of the baseline.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { startAlternative } from './fastify-bullmq.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const KEYS = 50;
const EVENTS_PER_KEY = 40;
const TOTAL = KEYS * EVENTS_PER_KEY;
const DELIVERY_TIMEOUT_MS = 120_000;

interface Received {
  key: string;
  name: string;
  email: string;
  version: number;
}

/** A support desk that answers 200 to every PUT /customers/<key> and keeps what it got, in arrival order. */
async function startReceiver() {
  const received: Received[] = [];
  let notify: (() => void) | undefined;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method === 'PUT' && request.url?.startsWith('/customers/')) {
        received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Received);
        notify?.();
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    /** Resolves once `count` deliveries arrived; rejects after `timeoutMs`. */
    waitFor(count: number, timeoutMs: number): Promise<void> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${received.length} of ${count} deliveries after ${timeoutMs} ms`)), timeoutMs);
        notify = () => {
          if (received.length >= count) {
            clearTimeout(timer);
            notify = undefined;
            resolve();
          }
        };
        notify();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const keyOf = (k: number) => `CC-${1000 + k}`;
const envelope = (id: string, k: number, i: number, email = `customer${k}@example.com`) => ({
  name: 'crm:contact:updated',
  version: 1,
  id,
  flowId: `smoke-${k}`,
  payload: { documentType: 'CC', documentNumber: String(1000 + k), name: `Customer ${k} rev ${i}`, email },
  identity: {},
  auth: {},
  metadata: {},
});

async function post(client: Pool, body: unknown): Promise<{ name: string; payload: Record<string, unknown> }> {
  const response = await client.request({ method: 'POST', path: '/events', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`POST /events answered HTTP ${response.statusCode}: ${text}`);
  return JSON.parse(text) as { name: string; payload: Record<string, unknown> };
}

async function main() {
  const problems: string[] = [];
  const receiver = await startReceiver();
  const alternative = await startAlternative({ redisUrl: REDIS_URL, receiverUrl: receiver.url });
  const redis = new Redis(REDIS_URL);
  const client = new Pool(alternative.url, { connections: 32 });
  process.stdout.write(`alternative ${alternative.url} (prefix ${alternative.prefix}), receiver ${receiver.url}\n`);

  try {
    // 1. Accept phase: 50 keys at once, each key's 40 events one after the other.
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: KEYS }, async (_, k) => {
        for (let i = 1; i <= EVENTS_PER_KEY; i++) {
          const answer = await post(client, envelope(`smoke-${k}-${i}`, k, i));
          if (answer.name !== 'crm:contact:updated:response' || answer.payload.status !== 'accepted') {
            throw new Error(`event smoke-${k}-${i} was not accepted: ${JSON.stringify(answer)}`);
          }
        }
      }),
    );
    const acceptedMs = performance.now() - t0;

    // 2. End to end: every event becomes one delivery.
    await receiver.waitFor(TOTAL, DELIVERY_TIMEOUT_MS);
    const deliveredMs = performance.now() - t0;

    // 3. Order per key, as the receiver saw it.
    const byKey = new Map<string, number[]>();
    for (const item of receiver.received) byKey.set(item.key, [...(byKey.get(item.key) ?? []), item.version]);
    const expected = Array.from({ length: EVENTS_PER_KEY }, (_, i) => i + 1);
    let keysOutOfOrder = 0;
    let inversions = 0;
    let example = '';
    const late = new Map<number, number>(); // version that arrived after a later one → how many keys
    for (let k = 0; k < KEYS; k++) {
      const versions = byKey.get(keyOf(k)) ?? [];
      if ([...versions].sort((a, b) => a - b).join() !== expected.join()) problems.push(`${keyOf(k)} got versions ${versions.join(',')}`);
      let keyInversions = 0;
      for (let i = 1; i < versions.length; i++) {
        const version = versions[i] ?? 0;
        if (version < (versions[i - 1] ?? 0)) {
          keyInversions++;
          late.set(version, (late.get(version) ?? 0) + 1);
        }
      }
      if (keyInversions > 0) {
        keysOutOfOrder++;
        inversions += keyInversions;
        if (!example) example = `${keyOf(k)} arrived as ${versions.join(',')}`;
      }
    }

    // 4. The stored records and audit trails.
    for (let k = 0; k < KEYS; k++) {
      const record = await redis.hgetall(`${alternative.prefix}:record:${keyOf(k)}`);
      const audit = await redis.llen(`${alternative.prefix}:audit:${keyOf(k)}`);
      // First event sets name and email (2 entries), each later one changes the name (1 entry).
      if (record.version !== String(EVENTS_PER_KEY) || audit !== EVENTS_PER_KEY + 1) {
        problems.push(`${keyOf(k)}: record version ${record.version}, ${audit} audit entries (want ${EVENTS_PER_KEY}, ${EVENTS_PER_KEY + 1})`);
      }
    }

    // 5. A resent id changes nothing; a bad email is refused with the field named.
    const again = await post(client, envelope('smoke-0-40', 0, 40));
    const bad = await post(client, envelope('smoke-bad', 0, 41, 'not-an-email'));
    const badFields = (bad.payload.parameters as { fields?: { name: string }[] } | undefined)?.fields ?? [];
    if (bad.name !== 'crm:contact:updated:badRequest' || badFields[0]?.name !== 'email') problems.push(`bad email answered ${JSON.stringify(bad)}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (receiver.received.length !== TOTAL) problems.push(`${receiver.received.length} deliveries after the resent id, want ${TOTAL}`);

    const rate = (count: number, ms: number) => `${Math.round(count / (ms / 1000)).toLocaleString('en-US')}/s`;
    process.stdout.write(
      [
        `accepted     ${TOTAL} events in ${acceptedMs.toFixed(0)} ms: ${rate(TOTAL, acceptedMs)}`,
        `delivered    ${receiver.received.length} in ${deliveredMs.toFixed(0)} ms from the first send: ${rate(TOTAL, deliveredMs)} end to end`,
        `order        ${keysOutOfOrder === 0 ? 'every key arrived 1..40 in order' : `${keysOutOfOrder} of ${KEYS} keys out of order at the receiver (${inversions} inversions; late versions ${[...late].sort(([a], [b]) => a - b).map(([v, n]) => `v${v}×${n}`).join(' ')}), e.g. ${example}`}`,
        `resent id    answered ${again.name} ${String(again.payload.status)}, no extra delivery: ${receiver.received.length === TOTAL}`,
        '',
      ].join('\n'),
    );
  } finally {
    await client.close();
    await alternative.close();
    await receiver.close();
    const left: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${alternative.prefix}:*`, 'COUNT', 1000);
      cursor = next;
      left.push(...keys);
    } while (cursor !== '0');
    if (left.length > 0) problems.push(`${left.length} Redis keys left under ${alternative.prefix}, e.g. ${left[0]}`);
    else process.stdout.write(`cleanup      no Redis keys left under ${alternative.prefix}\n`);
    await redis.quit();
  }

  if (problems.length > 0) {
    process.stderr.write(`PROBLEMS:\n  ${problems.join('\n  ')}\n`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
