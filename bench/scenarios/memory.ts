// 6. Memory: peak RSS of a hub taking and processing 1,000,000 events (bulk
// ingest), and RSS drift over a 10-minute run at a steady rate with deliveries.
import { join } from 'node:path';
import { Pool, request } from 'undici';
import { ADMIN_TOKEN, API_KEY, ROOT, startHub } from '../lib/child.js';
import { contactEnvelope } from '../lib/events.js';
import { sendAtRate } from '../lib/load.js';
import { startBenchReceiver } from '../lib/receiver.js';
import type { BenchContext, Row } from '../lib/report.js';

async function queued(url: string): Promise<number> {
  const response = await request(`${url}/healthz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return ((await response.body.json()) as { queued: number }).queued;
}

/** Least-squares slope of (minutes, MiB). */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

export async function memory(ctx: BenchContext): Promise<Row[]> {
  const total = ctx.quick ? 100_000 : 1_000_000;
  const hub = await startHub({ dbPath: join(ctx.dir, 'memory.db') });
  const pool = new Pool(hub.url, { connections: 4 });
  let sent = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (sent < total) {
        const n = Math.min(1000, total - sent);
        sent += n;
        const body = JSON.stringify(Array.from({ length: n }, (_, i) => contactEnvelope(String((sent + i) % 50_000))));
        const response = await pool.request({ path: '/events/bulk', method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` }, body });
        await response.body.dump();
      }
    }),
  );
  await pool.close();
  while ((await queued(hub.url)) > 0) await new Promise((r) => setTimeout(r, 500));
  const peak = hub.memory().peakMiB;
  await hub.stop();

  const minutes = ctx.quick ? 0.5 : 10;
  const receiver = await startBenchReceiver();
  const probe = join(ROOT, 'bench', 'lib', 'gc-probe.mjs');
  const steady = await startHub({ dbPath: join(ctx.dir, 'drift.db'), env: { SUPPORT_DESK_URL: receiver.url, NODE_OPTIONS: `--expose-gc --import=${probe}` } });
  const rss: Array<[number, number]> = [];
  const heap: Array<[number, number]> = [];
  const started = performance.now();
  steady.onLine((line) => {
    if (!line.startsWith('{"gcProbe"')) return;
    const { heapUsedMiB, rssMiB } = (JSON.parse(line) as { gcProbe: { heapUsedMiB: number; rssMiB: number } }).gcProbe;
    const at = (performance.now() - started) / 60_000;
    heap.push([at, heapUsedMiB]);
    rss.push([at, rssMiB]);
  });
  await sendAtRate(steady.url, 500, minutes * 60, 'drift');
  await steady.stop();
  await receiver.close();
  // The first fifth is warm-up (JIT, caches, connection pools) and does not count as drift.
  const settled = (points: Array<[number, number]>) => points.filter(([m]) => m >= minutes / 5);
  const span = (points: Array<[number, number]>) => `${(points[0]?.[1] ?? 0).toFixed(1)} → ${(points.at(-1)?.[1] ?? 0).toFixed(1)} MiB over ${points.length} samples`;
  return [
    { scenario: 'memory', metric: `peak RSS, ${total.toLocaleString('en-US')} events in and processed`, value: peak, unit: 'MiB', target: { max: 250 } },
    {
      scenario: 'memory',
      metric: `heap in use after full GC, drift at 500 events/s for ${minutes} min (with deliveries)`,
      value: slope(settled(heap)),
      unit: 'MiB/min',
      target: { max: 1 },
      note: `after warm-up: ${span(settled(heap))}`,
    },
    { scenario: 'memory', metric: `RSS drift over the same run (sampled after each full GC)`, value: slope(settled(rss)), unit: 'MiB/min', note: `after warm-up: ${span(settled(rss))}` },
  ];
}
