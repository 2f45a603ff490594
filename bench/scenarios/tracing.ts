// The cost of tracing, in the same run and alternately (median of 3 each):
// processing without a trace, with a traceparent on every event (the trace
// context every delivery then carries, always on), and with span export on too;
// end to end at 1,000 events/s with span export off and on. Spans go to a local
// OTLP/HTTP receiver that answers 200, with the SDK's default batching.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { flow } from '../../examples/customer-sync/flow.js';
import { integrationsFromEnv } from '../../examples/customer-sync/integrations.js';
import { createOutbox } from '../../src/delivery/outbox.js';
import { Processor } from '../../src/engine/processor.js';
import { startTracing } from '../../src/observability/tracing.js';
import { startHub } from '../lib/child.js';
import { startBenchReceiver } from '../lib/receiver.js';
import { drain, filledStore, median } from '../lib/processing.js';
import type { BenchContext, Row } from '../lib/report.js';
import { measure } from './end-to-end.js';

const TRACEPARENT = `00-${'4bf92f3577b34da6a3ce929d0e0e4736'}-${'00f067aa0ba902b7'}-01`;

/** An OTLP/HTTP receiver that takes every export and answers 200. */
async function startCollector(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export async function tracing(ctx: BenchContext): Promise<Row[]> {
  const collector = await startCollector();
  try {
    return [...(await processingCost(ctx, collector.url)), ...(await endToEndCost(ctx, collector.url))];
  } finally {
    await collector.close();
  }
}

async function processingCost(ctx: BenchContext, collectorUrl: string): Promise<Row[]> {
  const events = ctx.quick ? 20_000 : 100_000;
  const keys = 10_000;
  const integrations = integrationsFromEnv({ SUPPORT_DESK_URL: 'http://127.0.0.1:9', SUPPORT_DESK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' });
  const run = async (name: string, traced: boolean, exported: boolean) => {
    const store = await filledStore(join(ctx.dir, `${name}.db`), events, keys, traced ? { traceparent: TRACEPARENT } : undefined);
    const spans = exported ? await startTracing({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl } }) : undefined;
    const processor = new Processor(store.inbox, flow, pino({ level: 'silent' }), {
      batchSize: 1000,
      outbox: createOutbox(integrations),
      ...(spans ? { tracer: { start: (event, now) => spans.process(event, now, flow) } } : {}),
    });
    const rate = await drain(processor, events);
    await spans?.close();
    await store.close();
    return rate;
  };
  const off: number[] = [];
  const context: number[] = [];
  const on: number[] = [];
  const variants = [
    () => run(`tracing-off-${off.length}`, false, false).then((rate) => off.push(rate)),
    () => run(`tracing-context-${context.length}`, true, false).then((rate) => context.push(rate)),
    () => run(`tracing-on-${on.length}`, true, true).then((rate) => on.push(rate)),
  ];
  // Each round starts with the next variant: a fixed order showed as a cost of whichever ran later.
  for (let round = 0; round < 3; round++) for (let i = 0; i < variants.length; i++) await variants[(round + i) % variants.length]!();
  const offRate = median(off);
  const metric = (what: string) => `events/s ${what} (median of 3, alternating)`;
  return [
    { scenario: 'tracing', metric: metric('with a traceparent on every event, span export off'), value: median(context), baseline: offRate, baselineName: 'events without a traceparent' },
    { scenario: 'tracing', metric: metric('with a traceparent on every event, span export on'), value: median(on), baseline: offRate, baselineName: 'events without a traceparent, export off' },
  ];
}

async function endToEndCost(ctx: BenchContext, collectorUrl: string): Promise<Row[]> {
  const seconds = ctx.quick ? 3 : 10;
  const receiver = await startBenchReceiver();
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const run = async (name: string, exported: boolean) => {
    const hub = await startHub({
      dbPath: join(ctx.dir, `${name}.db`),
      env: { SUPPORT_DESK_URL: receiver.url, SUPPORT_DESK_SECRET: secret, ...(exported ? { OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl } : { OTEL_EXPORTER_OTLP_ENDPOINT: '' }) },
    });
    try {
      await measure(hub.url, receiver, 200, 1, `${name}w`);
      const fixed = await measure(hub.url, receiver, 1000, seconds, name);
      if (fixed.run.failed > 0 || !fixed.complete) throw new Error(`${name}: not every event was accepted and delivered at 1,000/s`);
      return fixed;
    } finally {
      await hub.stop();
    }
  };
  const off: Array<{ p50: number; p99: number }> = [];
  const on: Array<{ p50: number; p99: number }> = [];
  try {
    for (let round = 0; round < 3; round++) {
      const first = round % 2 === 0;
      if (first) off.push(await run(`off${round}`, false));
      on.push(await run(`on${round}`, true));
      if (!first) off.push(await run(`off${round}`, false));
    }
  } finally {
    await receiver.close();
  }
  const at = (values: Array<{ p50: number; p99: number }>, p: 'p50' | 'p99') => median(values.map((v) => v[p]));
  const unit = 'ms';
  return [
    { scenario: 'tracing', metric: 'end to end p50 at 1,000 events/s, span export on (median of 3, alternating)', value: at(on, 'p50'), unit, baseline: at(off, 'p50'), baselineName: 'the same with span export off' },
    { scenario: 'tracing', metric: 'end to end p99 at 1,000 events/s, span export on (median of 3, alternating)', value: at(on, 'p99'), unit, baseline: at(off, 'p99'), baselineName: 'the same with span export off' },
  ];
}
