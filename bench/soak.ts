// The soak: a hub (the customer-sync example, as `confluo start` runs it) under
// a steady stream of events for N minutes, SIGKILLed and restarted on the same
// database every K seconds, delivering to a receiver that fails a share of
// requests with 500. It prints the hub's memory as it goes; at the end it checks
// that every acknowledged event was applied exactly once and delivered at least
// once (the receiver answered 2xx to its webhook-id), and exits 1 if not.
//
//   npm run soak -- --minutes 2 --rate 50
//   npm run soak -- --minutes 60 --rate 200 --kill-every 0        (a leak hunt: one hub throughout)
//   npm run soak -- --db postgres                                 (CONFLUO_BENCH_DATABASE_URL, local or embedded)
//   npm run soak -- --db postgres://user@host:5432/confluo_soak   (an existing database)
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { freePort, killAllHubs, killGroup, startHubProcess, stopHub, type HubProcess } from '../test/support/hub-process.js';
import { startReceiver } from '../test/support/receiver.js';
import { tempDir } from '../test/support/index.js';
import { ADMIN_TOKEN, API_KEY, memoryOf } from './lib/child.js';
import { contactEnvelope } from './lib/events.js';
import { benchPostgres, createDatabase } from './lib/postgres.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '2' },
    rate: { type: 'string', default: '50' },
    'kill-every': { type: 'string', default: '30' },
    fail: { type: 'string', default: '0.2' },
    keys: { type: 'string', default: '500' },
    sample: { type: 'string', default: '5' },
    db: { type: 'string' },
  },
});
const minutes = Number(args.minutes);
const rate = Number(args.rate);
const killEveryMs = Number(args['kill-every']) * 1000;
const failShare = Number(args.fail);
const keys = Number(args.keys);
const sampleMs = Number(args.sample) * 1000;

/** Retries enough that a delivery failing 20% of the time is not a dead letter by chance (0.2^11). */
const RETRY_SCHEDULE = '200ms,500ms,1s,1s,2s,2s,5s,5s,10s,10s';
const MAX_IN_FLIGHT = 64;
const DRAIN_TIMEOUT_MS = 180_000;

interface Sent {
  envelope: ReturnType<typeof contactEnvelope>;
  acked: boolean;
  tries: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (since: number) => ((Date.now() - since) / 1000).toFixed(0).padStart(4);

async function main(): Promise<number> {
  const dir = tempDir('confluo-soak-');
  const cleanups: Array<() => Promise<void> | void> = [dir.remove];
  let db = args.db ?? `sqlite:${join(dir.path, 'confluo.db')}`;
  if (args.db === 'postgres') {
    const server = await benchPostgres();
    const database = await createDatabase(server, 'soak');
    cleanups.push(server.stop, database.drop);
    db = database.url;
  }

  // webhook-id -> 2xx answers the receiver gave it
  const delivered = new Map<string, number>();
  let receiverRequests = 0;
  const receiver = await startReceiver(() => (Math.random() < failShare ? { status: 500 } : { status: 204 }));
  cleanups.push(receiver.close);
  const tally = () => {
    for (const got of receiver.received.splice(0)) {
      receiverRequests += 1;
      const id = String(got.headers['webhook-id']);
      if (typeof got.answered === 'number' && got.answered < 300) delivered.set(id, (delivered.get(id) ?? 0) + 1);
      else if (!delivered.has(id)) delivered.set(id, 0);
    }
  };

  const port = await freePort();
  const startHub = () =>
    startHubProcess({
      db,
      port,
      env: {
        CONFLUO_API_KEYS: API_KEY,
        CONFLUO_ADMIN_TOKEN: ADMIN_TOKEN,
        CONFLUO_DATA_DIR: dir.path,
        CONFLUO_LOG_LEVEL: 'error',
        SUPPORT_DESK_URL: receiver.url,
        SUPPORT_DESK_SECRET: `whsec_${randomBytes(24).toString('base64')}`,
        SUPPORT_DESK_RETRY_SCHEDULE: RETRY_SCHEDULE,
        SLACK_WEBHOOK_URL: '',
      },
    });
  console.log(`soak: ${minutes} min at ${rate} events/s over ${keys} keys, receiver failing ${(failShare * 100).toFixed(0)}%, SIGKILL every ${killEveryMs ? `${killEveryMs / 1000} s` : 'never'}, ${db.startsWith('sqlite:') ? 'SQLite' : 'PostgreSQL'}`);
  let hub: HubProcess = await startHub();
  let generation = 1;
  const pool = new Pool(hub.url, { connections: 16, pipelining: 1 });
  cleanups.push(() => pool.close());

  const sent: Sent[] = [];
  const queue: Sent[] = [];
  let inFlight = 0;
  let retries = 0;
  const send = async (item: Sent) => {
    inFlight += 1;
    item.tries += 1;
    try {
      const response = await pool.request({
        path: '/events',
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
        body: JSON.stringify(item.envelope),
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      const answer = (await response.body.json()) as { name?: string };
      item.acked = answer.name === `${item.envelope.name}:response`;
    } catch {
      item.acked = false;
    } finally {
      inFlight -= 1;
    }
    // Not acknowledged (the hub was killed, or is restarting): send it again, same id, as a client would.
    if (!item.acked) {
      retries += 1;
      setTimeout(() => queue.push(item), 200);
    }
  };

  const started = Date.now();
  const endsAt = started + minutes * 60_000;
  const samples: Array<{ at: number; generation: number; rssMiB: number }> = [];
  let nextKill = killEveryMs ? started + killEveryMs : Infinity;
  let nextSample = started;
  let restarting = false;
  // retries: sends repeated because the hub was down; delivered: webhook-ids the receiver answered 2xx
  console.log('    s  hub  rss MiB  peak MiB     sent    acked  retries  delivered');
  while (Date.now() < endsAt || queue.length > 0 || inFlight > 0) {
    const now = Date.now();
    if (now < endsAt) {
      const due = Math.floor(((now - started) / 1000) * rate) - sent.length;
      for (let i = 0; i < due; i += 1) {
        const item: Sent = { envelope: contactEnvelope(String(1_000_000 + (sent.length % keys))), acked: false, tries: 0 };
        sent.push(item);
        queue.push(item);
      }
    } else if (now > endsAt + 60_000) {
      console.log(`soak: ${queue.length + inFlight} events still not acknowledged a minute after the load stopped`);
      break;
    }
    while (inFlight < MAX_IN_FLIGHT && queue.length > 0) void send(queue.shift() as Sent);
    if (now >= nextSample && !restarting) {
      nextSample += sampleMs;
      tally();
      const memory = memoryOf(hub.process.pid as number);
      samples.push({ at: now, generation, rssMiB: memory.rssMiB });
      const acked = sent.filter((s) => s.acked).length;
      const answered2xx = [...delivered.values()].filter((n) => n > 0).length;
      console.log(`${seconds(started)}  #${String(generation).padEnd(3)} ${memory.rssMiB.toFixed(0).padStart(7)} ${memory.peakMiB.toFixed(0).padStart(9)} ${String(sent.length).padStart(8)} ${String(acked).padStart(8)} ${String(retries).padStart(8)} ${String(answered2xx).padStart(10)}`);
    }
    if (now >= nextKill && now < endsAt && !restarting) {
      restarting = true;
      nextKill = now + killEveryMs;
      killGroup(hub.process, 'SIGKILL');
      void hub.exited
        .then(() => startHub())
        .then((next) => {
          hub = next;
          generation += 1;
          restarting = false;
        });
    }
    await sleep(20);
  }
  while (restarting) await sleep(50);

  console.log(`soak: load stopped after ${seconds(started).trim()} s; waiting for the hub to apply and deliver everything`);
  const admin = async (path: string) => {
    const response = await pool.request({ path, method: 'GET', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return (await response.body.json()) as any;
  };
  const drainedBy = Date.now() + DRAIN_TIMEOUT_MS;
  for (;;) {
    const health = await admin('/healthz');
    const desk = (await admin('/api/v1/integrations')).items.find((i: { name: string }) => i.name === 'support-desk');
    if (health.queued === 0 && desk.counts.pending === 0) break;
    if (Date.now() > drainedBy) {
      console.log(`soak: not drained after ${DRAIN_TIMEOUT_MS / 1000} s: ${health.queued} queued, ${desk.counts.pending} deliveries pending`);
      break;
    }
    await sleep(500);
  }
  tally();

  const problems: string[] = [];
  const acked = sent.filter((s) => s.acked);
  if (acked.length < sent.length) problems.push(`${sent.length - acked.length} events never acknowledged`);
  let redelivered = 0;
  for (let i = 0; i < acked.length; i += 32) {
    await Promise.all(
      acked.slice(i, i + 32).map(async ({ envelope }) => {
        const trace = await admin(`/api/v1/events/${envelope.id}`);
        if (trace.status !== 'processed') return problems.push(`${envelope.id}: ${trace.status ?? JSON.stringify(trace)}, not processed`);
        if (trace.changes.length !== 1) return problems.push(`${envelope.id}: applied ${trace.changes.length} times`);
        const delivery = trace.deliveries.find((d: { integration: string }) => d.integration === 'support-desk');
        if (!delivery) return problems.push(`${envelope.id}: no delivery to support-desk`);
        const answers = delivered.get(delivery.deliveryId) ?? 0;
        if (answers === 0) return problems.push(`${envelope.id}: delivery ${delivery.deliveryId} (${delivery.status}) never answered 2xx by the receiver`);
        if (answers > 1) redelivered += 1;
        return undefined;
      }),
    );
  }

  const exit = await stopHub(hub, 15_000);
  if (exit.code !== 0) problems.push(`the last hub did not stop cleanly on SIGTERM: ${JSON.stringify(exit)}`);
  for (const cleanup of cleanups.reverse()) await cleanup();

  const rss = samples.map((s) => s.rssMiB);
  const lastRun = samples.filter((s) => s.generation === Math.max(...samples.map((x) => x.generation)));
  console.log('');
  console.log(`events sent ${sent.length}, acknowledged ${acked.length}, sends retried ${retries}; hub started ${generation} times`);
  console.log(`receiver: ${receiverRequests} requests, ${delivered.size} distinct webhook-ids, ${redelivered} delivered 2xx more than once (at-least-once)`);
  console.log(`hub RSS: min ${Math.min(...rss).toFixed(0)} MiB, max ${Math.max(...rss).toFixed(0)} MiB; last hub ${lastRun[0]?.rssMiB.toFixed(0)} -> ${lastRun.at(-1)?.rssMiB.toFixed(0)} MiB over ${((Number(lastRun.at(-1)?.at) - Number(lastRun[0]?.at)) / 1000).toFixed(0)} s`);
  if (problems.length === 0) {
    console.log('soak passed: every acknowledged event applied exactly once and delivered at least once');
    return 0;
  }
  console.log(`soak FAILED: ${problems.length} problems`);
  for (const problem of problems.slice(0, 20)) console.log(`  ${problem}`);
  return 1;
}

try {
  process.exitCode = await main();
} catch (error) {
  await killAllHubs();
  throw error;
}
