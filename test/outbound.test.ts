// The hub config's `outbound` policy reaches every integration's sink and every
// source's driver that was not given its own: a refused delivery fails at once
// (no retry) naming host and address, a refused pull fails its run, and the
// receiver never sees a request.
import { afterEach, describe, expect, it } from 'vitest';
import { customer } from '../examples/customer-sync/flow.js';
import { defineIntegration } from '../src/delivery/integration.js';
import { restSink } from '../src/delivery/sinks/rest-sink.js';
import { resolveSettings } from '../src/hub/config.js';
import { httpPoll } from '../src/sources/drivers/http-poll.js';
import { defineSource } from '../src/sources/source.js';
import { entryPosted, ledgerFlow } from './support/flows.js';
import { startReceiver, type Receiver } from './support/receiver.js';
import { contact, envelope, eventually, startTestHub, type TestHub } from './support/index.js';

describe('outbound policy from the hub config', () => {
  let t: TestHub | undefined;
  let receiver: Receiver | undefined;
  afterEach(async () => {
    await t?.close();
    await receiver?.close();
    t = undefined;
    receiver = undefined;
  });

  const desk = (url: string, outbound?: { allowLoopback: boolean }) =>
    defineIntegration({
      name: 'desk',
      on: { entity: customer },
      map: ({ key }) => ({ body: { key } }),
      sink: restSink({ url: `${url}/customers/{key}`, ...(outbound ? { outbound } : {}) }),
      retry: { delaysMs: [0, 10, 10] },
    });

  it('fails a delivery to a refused destination at once, naming host and address, and sends nothing', async () => {
    receiver = await startReceiver();
    t = await startTestHub({ integrations: [desk(receiver.url)], dispatcher: { pollMs: 10 }, outbound: { allowLoopback: false } });
    await t.send(envelope('crm:contact:updated', contact('1015', 'Ana'), { metadata: { wait: true } }));
    const [delivery] = await eventually(async () => {
      const items = (await t!.get('/api/v1/deliveries')).body.items as Array<{ status: string; attempts: number; lastError: string }>;
      return items[0]?.status === 'failed' && items;
    });
    expect(delivery).toMatchObject({ attempts: 1 });
    expect(JSON.stringify(delivery)).toContain('refused to connect to 127.0.0.1: it is a loopback address and outbound.allowLoopback is false');
    expect(receiver.received).toHaveLength(0);
  });

  it('leaves a sink configured with its own policy alone', async () => {
    receiver = await startReceiver();
    t = await startTestHub({ integrations: [desk(receiver.url, { allowLoopback: true })], dispatcher: { pollMs: 10 }, outbound: { allowLoopback: false } });
    await t.send(envelope('crm:contact:updated', contact('1015', 'Ana'), { metadata: { wait: true } }));
    await eventually(() => receiver!.received.length === 1, 5000, 'the delivery');
  });

  it('fails a source run against a refused API', async () => {
    receiver = await startReceiver();
    const source = defineSource({ name: 'feed', driver: httpPoll({ url: `${receiver.url}/entries` }), schedule: { every: '1h' }, emits: entryPosted, id: () => 'x' });
    t = await startTestHub({ flow: ledgerFlow, sources: [source], pull: false, outbound: { allowLoopback: false } });
    const run = await t.post('/api/v1/sources/feed/run');
    expect(run.body).toMatchObject({ status: 'failed' });
    expect(run.body.error).toContain('refused to connect to 127.0.0.1');
    expect(receiver.received).toHaveLength(0);
  });

  it('is read from the config file into the settings the hub starts with', () => {
    const settings = resolveSettings({ flow: ledgerFlow, outbound: { allowPrivate: true, denyHosts: ['evil.example'] } }, {});
    expect(settings.outbound).toEqual({ allowPrivate: true, denyHosts: ['evil.example'] });
  });
});
