// W3C trace context through the hub: the traceparent an event arrives with (the
// HTTP header, or metadata.traceparent in a bulk envelope) is kept with the event,
// and every delivery it causes carries a child of it to a real local receiver:
// the same trace id and flags, a new parent id, the same header on a retry.
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { customer } from '../examples/customer-sync/flow.js';
import { defineIntegration } from '../src/delivery/integration.js';
import { restSink } from '../src/delivery/sinks/rest-sink.js';
import { childTraceparent, parseTraceparent } from '../src/observability/trace-context.js';
import { startReceiver, type Receiver } from './support/receiver.js';
import { API_KEY, contact, envelope, eventually, startTestHub, type TestHub } from './support/index.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SENDER_SPAN = '00f067aa0ba902b7';
const incoming = `00-${TRACE}-${SENDER_SPAN}-01`;
const FORMAT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

describe('trace context', () => {
  let t: TestHub | undefined;
  let receiver: Receiver | undefined;
  afterEach(async () => {
    await t?.close();
    await receiver?.close();
    t = undefined;
    receiver = undefined;
  });

  async function hub(headers?: Record<string, string>) {
    receiver = await startReceiver();
    const desk = defineIntegration({
      name: 'desk',
      on: { entity: customer, parts: ['contact'] },
      map: ({ key, record }) => ({ body: { key, email: record.contact?.email ?? null }, ...(headers ? { headers } : {}) }),
      sink: restSink({ url: `${receiver.url}/customers/{key}`, method: 'PUT' }),
      retry: { delaysMs: [0, 20, 20] },
    });
    t = await startTestHub({ integrations: [desk], dispatcher: { pollMs: 10 } });
    return t;
  }
  const sendOne = (number: string, headers: Record<string, string> = {}) =>
    t!.send(envelope('crm:contact:updated', contact(number, `Name${number}`)), { authorization: `Bearer ${API_KEY}`, ...headers });
  const receivedFor = (number: string) => eventually(() => receiver!.received.find((r) => r.path === `/customers/CC-${number}`), 10_000, `a delivery for ${number}`);

  it('sends each delivery a child of the traceparent header: same trace and flags, a new parent id', async () => {
    await hub();
    const sentEvent = envelope('crm:contact:updated', contact('1001', 'Ada'));
    expect((await t!.send(sentEvent, { authorization: `Bearer ${API_KEY}`, traceparent: incoming })).body.payload.status).toBe('accepted');
    const sent = (await receivedFor('1001')).headers.traceparent as string;
    expect(sent).toMatch(FORMAT);
    const context = parseTraceparent(sent)!;
    expect(context.traceId).toBe(TRACE);
    expect(context.spanId).not.toBe(SENDER_SPAN);
    expect(context.flags).toBe('01');
    // The delivery log shows the header it sent.
    const { deliveries } = (await t!.get(`/api/v1/events/${sentEvent.id}`)).body;
    const detail = (await t!.get(`/api/v1/deliveries/${deliveries[0].deliveryId}`)).body;
    expect(JSON.stringify(detail)).toContain(`"traceparent":"${sent}"`);
  });

  it('sends the same traceparent on a retry', async () => {
    await hub();
    receiver!.script.push({ status: 503 });
    await sendOne('1002', { traceparent: `00-${TRACE}-${SENDER_SPAN}-00` });
    const both = await eventually(() => {
      const got = receiver!.received.filter((r) => r.path === '/customers/CC-1002');
      return got.length >= 2 && got;
    });
    expect(both[0]!.answered).toBe(503);
    expect(both[1]!.headers.traceparent).toBe(both[0]!.headers.traceparent);
    expect(parseTraceparent(both[0]!.headers.traceparent)).toMatchObject({ traceId: TRACE, flags: '00' });
  });

  it("takes each bulk envelope's own metadata.traceparent, the header for the others", async () => {
    await hub();
    const other = '0af7651916cd43dd8448eb211c80319c';
    const own = envelope('crm:contact:updated', contact('1003', 'Own'), { metadata: { traceparent: `00-${other}-b7ad6b7169203331-01` } });
    const bad = envelope('crm:contact:updated', contact('1004', 'Bad'), { metadata: { traceparent: 'not-a-traceparent' } });
    const none = envelope('crm:contact:updated', contact('1005', 'None'));
    const response = await request(`${t!.url}/events/bulk`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}`, traceparent: incoming },
      body: JSON.stringify([own, bad, none]),
    });
    const answers = (await response.body.json()) as Array<{ payload: { status: string } }>;
    expect(answers.map((a) => a.payload.status)).toEqual(['accepted', 'accepted', 'accepted']);
    expect(parseTraceparent((await receivedFor('1003')).headers.traceparent)?.traceId).toBe(other);
    expect(parseTraceparent((await receivedFor('1004')).headers.traceparent)?.traceId).toBe(TRACE);
    expect(parseTraceparent((await receivedFor('1005')).headers.traceparent)?.traceId).toBe(TRACE);
  });

  it('ignores an invalid traceparent: the event is accepted and its delivery carries none, as without one', async () => {
    await hub();
    for (const [number, value] of [
      ['1006', `00-${'0'.repeat(32)}-${SENDER_SPAN}-01`],
      ['1007', `00-${TRACE}-${'0'.repeat(16)}-01`],
      ['1008', `ff-${TRACE}-${SENDER_SPAN}-01`],
      ['1009', `00-${TRACE.toUpperCase()}-${SENDER_SPAN}-01`],
      ['1010', 'garbage'],
    ] as const) {
      expect((await sendOne(number, { traceparent: value })).body.payload.status).toBe('accepted');
    }
    await sendOne('1011');
    for (const number of ['1006', '1007', '1008', '1009', '1010', '1011']) expect((await receivedFor(number)).headers.traceparent).toBeUndefined();
  });

  it("keeps a mapping's own traceparent header", async () => {
    const mine = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`;
    await hub({ Traceparent: mine });
    await sendOne('1012', { traceparent: incoming });
    expect((await receivedFor('1012')).headers.traceparent).toBe(mine);
  });
});

describe('traceparent values', () => {
  it('parses version 00 and later versions with more fields, and refuses the rest', () => {
    expect(parseTraceparent(incoming)).toEqual({ traceId: TRACE, spanId: SENDER_SPAN, flags: '01' });
    expect(parseTraceparent(`01-${TRACE}-${SENDER_SPAN}-01-more`)).toEqual({ traceId: TRACE, spanId: SENDER_SPAN, flags: '01' });
    expect(parseTraceparent(`00-${TRACE}-${SENDER_SPAN}-01-more`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE}-${SENDER_SPAN}`)).toBeUndefined();
    expect(parseTraceparent(42)).toBeUndefined();
  });

  it('makes a child with the same trace and flags and a new parent id', () => {
    const child = parseTraceparent(childTraceparent(incoming))!;
    expect(child.traceId).toBe(TRACE);
    expect(child.flags).toBe('01');
    expect(child.spanId).not.toBe(SENDER_SPAN);
    expect(childTraceparent('nope')).toBeUndefined();
  });
});
