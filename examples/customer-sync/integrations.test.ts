// The example's integrations, end to end through a hub: the support desk gets a
// signed PUT per contact or billing change; Slack hears when billing becomes past_due.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../../test/support/receiver.js';
import { contact, envelope, eventually, startTestHub, type TestHub } from '../../test/support/index.js';
import { integrationsFromEnv } from './integrations.js';

describe('customer-sync integrations', () => {
  let t: TestHub | undefined;
  const receivers: Receiver[] = [];
  afterEach(async () => {
    await t?.close();
    t = undefined;
    for (const r of receivers.splice(0)) await r.close();
  });

  const billing = (number: string, plan: string, status: string) =>
    envelope('billing:subscription:changed', { documentType: 'CC', documentNumber: number, plan, status }, { metadata: { wait: true } });

  it('PUTs {key, name, email, plan, status, version} to the support desk, signed, on contact and billing changes only', async () => {
    const desk = await startReceiver();
    receivers.push(desk);
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    t = await startTestHub({ integrations: integrationsFromEnv({ SUPPORT_DESK_URL: `${desk.url}/`, SUPPORT_DESK_SECRET: secret }), dispatcher: { pollMs: 10 } });
    await t.send({ ...envelope('crm:contact:updated', contact('1015', 'Ana')), metadata: { wait: true } });
    await t.send(billing('1015', 'pro', 'active'));
    await t.send(envelope('preferences:updated', { documentType: 'CC', documentNumber: '1015', language: 'es', marketingOptIn: false }, { metadata: { wait: true } }));
    // Every delivery, the PUT it makes included, is written with the event's processing, before its
    // send returns: once all the desk's deliveries have settled, no other PUT is on its way.
    await eventually(async () => {
      const items = (await t!.get('/api/v1/deliveries?integration=support-desk')).body.items as Array<{ status: string }>;
      return items.length >= 2 && items.every((d) => d.status !== 'pending');
    }, 5000, 'the desk deliveries to settle');
    expect(desk.received).toHaveLength(2);
    const wh = new Webhook(secret);
    expect(desk.received.map((r) => [r.method, r.path, wh.verify(r.raw, r.headers as Record<string, string>)])).toEqual([
      ['PUT', '/customers/CC-1015', { key: 'CC-1015', name: 'Ana', email: 'ana@example.com', plan: null, status: null, version: 1 }],
      ['PUT', '/customers/CC-1015', { key: 'CC-1015', name: 'Ana', email: 'ana@example.com', plan: 'pro', status: 'active', version: 2 }],
    ]);
  });

  it('takes its retry schedule from SUPPORT_DESK_RETRY_SCHEDULE', async () => {
    const desk = await startReceiver({ status: 500 });
    receivers.push(desk);
    t = await startTestHub({ integrations: integrationsFromEnv({ SUPPORT_DESK_URL: desk.url, SUPPORT_DESK_RETRY_SCHEDULE: '0s,50ms,100ms' }), dispatcher: { pollMs: 10 } });
    await t.send({ ...envelope('crm:contact:updated', contact('1', 'Bo')), metadata: { wait: true } });
    await eventually(async () => (await t!.get('/api/v1/deliveries?status=dead')).body.items.length === 1, 5000, 'dead letter');
    expect(desk.received).toHaveLength(3);
    expect(desk.received[2]!.at - desk.received[1]!.at).toBeGreaterThanOrEqual(90);
  });

  it('tells Slack when a billing status becomes past_due, naming customer and plan, and only then', async () => {
    const slack = await startReceiver();
    receivers.push(slack);
    const webhookUrl = `${slack.url}/services/T0001/B0001/abcdefghijklmnopqrstuvwx`;
    t = await startTestHub({ integrations: integrationsFromEnv({ SLACK_WEBHOOK_URL: webhookUrl }), dispatcher: { pollMs: 10 } });
    await t.send({ ...envelope('crm:contact:updated', contact('1015', 'Ana')), metadata: { wait: true } });
    await t.send(billing('1015', 'pro', 'active'));
    await t.send(billing('1015', 'pro', 'past_due'));
    await t.send(billing('1015', 'enterprise', 'past_due'));
    await eventually(async () => (await t!.get('/api/v1/deliveries?integration=billing-alerts')).body.items.length === 3, 5000, 'three billing deliveries');
    await eventually(() => slack.received.length === 1, 5000, 'the alert');
    const message = slack.received[0]!.body;
    expect(message.text).toBe('Customer CC-1015 is past due on the pro plan');
    expect(JSON.stringify(message.blocks)).toContain('*Ana (CC-1015)* is past due on the *pro* plan.');
    const ignored = (await t.get('/api/v1/deliveries?integration=billing-alerts&status=ignored')).body.items;
    expect(ignored.map((d: any) => d.lastError)).toEqual(['billing status did not become past_due', 'billing status did not become past_due']);
    // The webhook path is a secret: masked in the delivery log.
    const sent = (await t.get('/api/v1/deliveries?integration=billing-alerts&status=succeeded')).body.items[0];
    const detail = (await t.get(`/api/v1/deliveries/${sent.deliveryId}`)).body;
    expect(detail.attemptLog[0].url).toBe(`${slack.url}/services/T0001/B0001/****`);
  });

  it('is off, with a clear log line, when its URL is unset or empty', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }));
    t = await startTestHub({ integrations: integrationsFromEnv({ SUPPORT_DESK_URL: '', SLACK_WEBHOOK_URL: '' }), logger });
    expect(lines.join('')).toContain('integration support-desk is off: SUPPORT_DESK_URL is unset');
    expect(lines.join('')).toContain('integration billing-alerts is off: SLACK_WEBHOOK_URL is unset');
    await t.send({ ...envelope('crm:contact:updated', contact('1', 'Bo')), metadata: { wait: true } });
    expect((await t.get('/api/v1/deliveries')).body.items).toEqual([]);
    expect((await t.get('/api/v1/integrations')).body.items).toEqual([]);
  });
});
