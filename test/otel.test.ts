// OpenTelemetry spans against a real local OTLP/HTTP receiver (node:http on
// 127.0.0.1 taking POST /v1/traces, JSON as the exporter sends it): an event sent
// with a traceparent yields an accept span, a process span and one CLIENT span per
// delivery attempt, all in the sender's trace and chained parent to child, and the
// delivery's traceparent continues that trace. Once in-process (the endpoint given
// as an option, no global provider), once through a real `confluo start`.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { customer } from '../examples/customer-sync/flow.js';
import { defineIntegration } from '../src/delivery/integration.js';
import { restSink } from '../src/delivery/sinks/rest-sink.js';
import { startTracing } from '../src/observability/tracing.js';
import { killAllHubs, startHubProcess, stopHub } from './support/hub-process.js';
import { startReceiver, type Receiver } from './support/receiver.js';
import { ledgerFlow } from './support/flows.js';
import { API_KEY, ADMIN_TOKEN, contact, envelope, eventually, startTestHub, tempDir, type TestHub } from './support/index.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SENDER_SPAN = '00f067aa0ba902b7';
const incoming = `00-${TRACE}-${SENDER_SPAN}-01`;
/** OTLP's SpanKind numbers (the protobuf enum, not the API's). */
const KIND = { client: 3, producer: 4, consumer: 5 };

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  status?: { code?: number };
  service: unknown;
}

interface Collector {
  url: string;
  spans: ExportedSpan[];
  headers: IncomingHttpHeaders[];
  close: () => Promise<void>;
}

type AnyValue = { stringValue?: string; intValue?: number | string; boolValue?: boolean; doubleValue?: number };
const valueOf = (v: AnyValue) => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue));
const flat = (attributes: Array<{ key: string; value: AnyValue }> = []) => Object.fromEntries(attributes.map((a) => [a.key, valueOf(a.value)]));

async function startCollector(): Promise<Collector> {
  const collector: Collector = { url: '', spans: [], headers: [], close: async () => undefined };
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      collector.headers.push(req.headers);
      const body = JSON.parse(raw) as { resourceSpans: Array<{ resource: { attributes: any[] }; scopeSpans: Array<{ spans: any[] }> }> };
      for (const rs of body.resourceSpans) {
        const service = flat(rs.resource.attributes)['service.name'];
        for (const ss of rs.scopeSpans) for (const s of ss.spans) collector.spans.push({ ...s, attributes: flat(s.attributes), service });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  collector.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  collector.close = () => new Promise((resolve) => server.close(() => resolve()));
  return collector;
}

const spanNamed = (collector: Collector, name: string, id?: string) =>
  eventually(
    () => {
      const found = collector.spans.filter((s) => s.name === name && (id === undefined || s.attributes['messaging.message.id'] === id));
      return found.length > 0 && found;
    },
    10_000,
    `span ${name}`,
  );

describe('OpenTelemetry spans', () => {
  let t: TestHub | undefined;
  let receiver: Receiver | undefined;
  let collector: Collector | undefined;
  afterEach(async () => {
    await t?.close();
    await receiver?.close();
    await collector?.close();
    t = receiver = collector = undefined;
  });
  afterAll(killAllHubs);

  it('exports accept, process and attempt spans in the incoming trace, chained, and the delivery continues it', async () => {
    collector = await startCollector();
    receiver = await startReceiver();
    receiver.script.push({ status: 503 });
    const tracing = await startTracing({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_SERVICE_NAME: 'confluo-test' }, scheduledDelayMillis: 20 });
    const desk = defineIntegration({
      name: 'desk',
      on: { entity: customer, parts: ['contact'] },
      map: ({ key, record }) => ({ body: { key, email: record.contact?.email ?? null } }),
      sink: restSink({ url: `${receiver.url}/customers/{key}?token=s3cr3t-value`, method: 'PUT' }),
      retry: { delaysMs: [0, 20] },
    });
    t = await startTestHub({ integrations: [desk], dispatcher: { pollMs: 10 }, tracing });
    const event = envelope('crm:contact:updated', contact('2001', 'Ada'));
    expect((await t.send(event, { authorization: `Bearer ${API_KEY}`, traceparent: incoming })).body.payload.status).toBe('accepted');
    const received = await eventually(() => receiver!.received.length >= 2 && receiver!.received, 10_000, 'the retry');

    const [accept] = await spanNamed(collector, 'accept crm:contact:updated', event.id);
    expect(accept).toMatchObject({ traceId: TRACE, parentSpanId: SENDER_SPAN, kind: KIND.producer, service: 'confluo-test' });
    expect(accept!.attributes).toMatchObject({
      'messaging.system': 'confluo',
      'messaging.operation.type': 'publish',
      'messaging.message.id': event.id,
      'messaging.destination.name': 'crm:contact:updated',
      'confluo.flow_id': event.flowId,
      'confluo.outcome': 'accepted',
    });

    const [process] = await spanNamed(collector, 'process crm:contact:updated', event.id);
    expect(process).toMatchObject({ traceId: TRACE, parentSpanId: accept!.spanId, kind: KIND.consumer });
    expect(process!.attributes).toMatchObject({ 'messaging.operation.type': 'process', 'confluo.rule': 'crm:contact:updated@v1', 'confluo.entity': 'customer', 'confluo.outcome': 'processed' });

    const attempts = await eventually(() => {
      const got = collector!.spans.filter((s) => s.name === 'deliver desk');
      return got.length >= 2 && got.sort((a, b) => Number(a.attributes['confluo.attempt']) - Number(b.attributes['confluo.attempt']));
    });
    const port = Number(new URL(receiver.url).port);
    for (const [i, attempt] of attempts.entries()) {
      expect(attempt).toMatchObject({ traceId: TRACE, parentSpanId: process!.spanId, kind: KIND.client });
      expect(attempt.attributes).toMatchObject({
        'http.request.method': 'PUT',
        'server.address': '127.0.0.1',
        'server.port': port,
        'url.full': `${receiver.url}/customers/CC-2001?token=****`,
        'confluo.integration': 'desk',
        'confluo.attempt': i + 1,
        'http.request.resend_count': i,
      });
      expect(attempt.attributes['confluo.delivery_id']).toMatch(/^msg_/);
    }
    expect(attempts[0]!.attributes).toMatchObject({ 'http.response.status_code': 503, 'error.type': '503' });
    expect(attempts[0]!.status?.code).toBe(2); // ERROR
    expect(attempts[1]!.attributes['http.response.status_code']).toBe(200);
    expect(attempts[1]!.attributes['error.type']).toBeUndefined();

    // The receiver's trace joins: its parent is the process span, the same on both attempts.
    for (const r of received) expect(r.headers.traceparent).toBe(`00-${TRACE}-${process!.spanId}-01`);
  });

  it('marks a parked event and starts a trace for an event sent without one', async () => {
    collector = await startCollector();
    const tracing = await startTracing({ env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/v1/traces` }, scheduledDelayMillis: 20 });
    t = await startTestHub({ flow: ledgerFlow, tracing });
    const event = envelope('ledger:entry:posted', { id: 'A', amount: 1, label: 'a1', fail: true });
    await t.send(event);
    const [accept] = await spanNamed(collector, 'accept ledger:entry:posted', event.id);
    expect(accept!.parentSpanId ?? '').toBe('');
    expect(accept!.service).toBe('confluo');
    const [process] = await spanNamed(collector, 'process ledger:entry:posted', event.id);
    expect(process).toMatchObject({ traceId: accept!.traceId, parentSpanId: accept!.spanId });
    expect(process!.attributes).toMatchObject({ 'confluo.outcome': 'parked', 'error.type': 'RULE_FAILED' });
    expect(process!.status?.code).toBe(2);
  });

  it('is off without an endpoint: nothing is loaded', async () => {
    expect(await startTracing({ env: {} })).toBeUndefined();
    expect(await startTracing({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' } })).toBeUndefined();
  });

  it('confluo start exports from the OTEL_* variables (headers included), flushes on stop, and logs JSON when piped', { timeout: 60_000 }, async () => {
    collector = await startCollector();
    receiver = await startReceiver();
    const dir = tempDir('confluo-otel-');
    try {
      const hub = await startHubProcess({
        dbPath: join(dir.path, 'confluo.db'),
        env: {
          CONFLUO_API_KEYS: API_KEY,
          CONFLUO_ADMIN_TOKEN: ADMIN_TOKEN,
          CONFLUO_DATA_DIR: dir.path,
          SUPPORT_DESK_URL: receiver.url,
          OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
          OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=k-123',
          // Only the flush at stop can bring the spans within the test.
          OTEL_BSP_SCHEDULE_DELAY: '600000',
        },
        drop: ['SLACK_WEBHOOK_URL', 'OTEL_SERVICE_NAME', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_SDK_DISABLED'],
      });
      const event = envelope('crm:contact:updated', contact('2002', 'Bo'));
      const answer = await request(`${hub.url}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}`, traceparent: incoming },
        body: JSON.stringify(event),
      });
      expect(((await answer.body.json()) as any).payload.status).toBe('accepted');
      const delivered = await eventually(() => receiver!.received.find((r) => r.path === '/customers/CC-2002'), 15_000, 'the delivery');
      expect(collector.spans).toEqual([]);
      expect((await stopHub(hub)).code).toBe(0);

      const names = collector.spans.filter((s) => s.traceId === TRACE).map((s) => s.name);
      expect(names.sort()).toEqual(['accept crm:contact:updated', 'deliver support-desk', 'process crm:contact:updated']);
      expect(collector.spans[0]!.service).toBe('confluo');
      expect(collector.headers[0]!['x-collector-key']).toBe('k-123');
      const process = collector.spans.find((s) => s.name === 'process crm:contact:updated')!;
      expect(delivered.headers.traceparent).toBe(`00-${TRACE}-${process.spanId}-01`);

      const stdout = hub.output().split('\nstderr:\n')[0]!.replace(/^stdout:\n/, '');
      const lines = stdout.split('\n').filter((line) => line.trim() !== '');
      expect(lines.length).toBeGreaterThan(2);
      for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
      expect(lines.some((line) => JSON.parse(line).msg === 'exporting OpenTelemetry spans over OTLP/HTTP')).toBe(true);
    } finally {
      dir.remove();
    }
  });
});
