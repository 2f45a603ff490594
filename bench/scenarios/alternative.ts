// 5. The alternative a TypeScript team would build instead: Fastify + BullMQ on
// the local Redis doing the same job (validate, update a record with an audit
// entry, deliver over HTTP with retries). Both run as child processes and get
// the same events; throughput is first send to last delivery received.
import { join } from 'node:path';
import { Pool } from 'undici';
import { API_KEY, startChild, startHub, type Child } from '../lib/child.js';
import { contactEnvelope } from '../lib/events.js';
import { startBenchReceiver } from '../lib/receiver.js';
import type { BenchContext, Row } from '../lib/report.js';

async function throughput(start: (receiverUrl: string) => Promise<Child>, events: number, keys: number): Promise<number> {
  const receiver = await startBenchReceiver();
  const server = await start(receiver.url);
  try {
    const pool = new Pool(server.url, { connections: 64 });
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < events) {
          const i = next++;
          const response = await pool.request({
            path: '/events',
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
            body: JSON.stringify(contactEnvelope(String(i % keys), `n${i}`)),
          });
          const text = await response.body.text();
          if (!text.includes('"accepted"')) throw new Error(`event refused: ${text}`);
        }
      }),
    );
    await receiver.waitFor(events, 300_000);
    const rate = events / ((performance.now() - started) / 1000);
    await pool.close();
    return rate;
  } finally {
    await server.stop();
    await receiver.close();
  }
}

export async function alternative(ctx: BenchContext): Promise<Row[]> {
  const events = ctx.quick ? 5_000 : 30_000;
  const keys = events; // one change per key: every event is one delivery, whatever the ordering
  const confluo = await throughput(
    (url) => startHub({ dbPath: join(ctx.dir, 'alternative.db'), env: { SUPPORT_DESK_URL: url, SUPPORT_DESK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' } }),
    events,
    keys,
  );
  const bullmq = await throughput((url) => startChild(['--import', 'tsx', 'bench/alternative/serve.ts'], { RECEIVER_URL: url }), events, keys);
  return [
    {
      scenario: 'alternative',
      metric: `events/s end to end, ${events.toLocaleString('en-US')} events (accept → record + audit → delivery received)`,
      value: confluo,
      baseline: bullmq,
      baselineName: 'Fastify + BullMQ on local Redis',
      target: { ratio: 2 },
      note: 'Redis here keeps nothing on disk (appendonly no), Confluo fsyncs each accept commit; the alternative does not sign deliveries.',
    },
  ];
}
