// 4. End to end: latency from POST /events to the receiver getting the signed
// delivery, at a fixed 1,000 events/s, and the highest rate whose p99 stays
// under 100 ms with everything delivered.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startHub } from '../lib/child.js';
import { percentile, sendAtRate } from '../lib/load.js';
import { startBenchReceiver, type BenchReceiver } from '../lib/receiver.js';
import type { BenchContext, Row } from '../lib/report.js';

export async function measure(hubUrl: string, receiver: BenchReceiver, rate: number, seconds: number, prefix: string) {
  const before = receiver.count;
  const run = await sendAtRate(hubUrl, rate, seconds, prefix);
  const expected = run.sent - run.failed;
  let complete = true;
  try {
    await receiver.waitFor(before + expected, 15_000);
  } catch {
    complete = false;
  }
  const latencies: number[] = [];
  for (const [id, sentAt] of run.sentAt) {
    const arrived = receiver.arrivals.get(id);
    if (arrived !== undefined) latencies.push(arrived - sentAt);
  }
  latencies.sort((a, b) => a - b);
  return { run, complete, delivered: latencies.length, p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99) };
}

export async function endToEnd(ctx: BenchContext): Promise<Row[]> {
  const receiver = await startBenchReceiver();
  const hub = await startHub({
    dbPath: join(ctx.dir, 'e2e.db'),
    env: { SUPPORT_DESK_URL: receiver.url, SUPPORT_DESK_SECRET: `whsec_${randomBytes(24).toString('base64')}` },
  });
  try {
    await measure(hub.url, receiver, 200, 1, 'warm'); // JIT and connection warm-up, not reported
    const fixed = await measure(hub.url, receiver, 1000, ctx.quick ? 5 : 30, 'fixed');
    if (fixed.run.failed > 0) throw new Error(`${fixed.run.failed} events were not accepted at 1,000/s`);

    let best = 0;
    const tried: string[] = [];
    const steps = ctx.quick ? [500, 1000, 2000, 3000] : [500, 1000, 1500, 2000, 3000, 4000, 6000, 8000];
    for (const rate of steps) {
      const step = await measure(hub.url, receiver, rate, ctx.quick ? 3 : 10, `r${rate}x`);
      tried.push(`${rate}/s: p99 ${step.p99.toFixed(0)} ms${step.complete ? '' : ', not all delivered'}`);
      if (!step.complete || step.run.failed > 0 || !(step.p99 < 100)) break;
      best = rate;
    }
    const unit = 'ms';
    return [
      { scenario: 'end-to-end', metric: 'p50 latency at 1,000 events/s', value: fixed.p50, unit },
      { scenario: 'end-to-end', metric: 'p95 latency at 1,000 events/s', value: fixed.p95, unit },
      { scenario: 'end-to-end', metric: 'p99 latency at 1,000 events/s', value: fixed.p99, unit, target: { max: 50 } },
      { scenario: 'end-to-end', metric: 'highest tried rate with p99 < 100 ms, all delivered', value: best, unit: 'events/s', note: tried.join('; ') },
    ];
  } finally {
    await hub.stop();
    await receiver.close();
  }
}
