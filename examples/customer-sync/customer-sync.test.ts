// The customer-sync flow tested the way a user tests theirs: only with
// confluo/testing. Events in, wait until settled, then the record, its audit
// and what each integration would have sent (captured, signed, never sent).
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it, onTestFinished } from 'vitest';
import { defineConfig } from 'confluo';
import { createTestHub } from 'confluo/testing';
import { contactUpdated, customer, flow, subscriptionChanged } from './flow.js';
import { integrationsFromEnv } from './integrations.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const config = defineConfig({
  flow,
  integrations: integrationsFromEnv({
    SUPPORT_DESK_URL: 'https://desk.example.com',
    SUPPORT_DESK_SECRET: secret,
    SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0001/B0001/abcdefghijklmnopqrstuvwx',
  }),
});

describe('customer-sync, with confluo/testing', () => {
  it('keeps one customer record, and tells the desk every change and Slack when billing goes past due', async () => {
    const hub = await createTestHub(config, { capture: true });
    onTestFinished(() => hub.close());
    const ana = { documentType: 'CC', documentNumber: '1015' };
    await hub.send(contactUpdated, { ...ana, name: 'Ana', email: 'ana@example.com' });
    await hub.send(subscriptionChanged, { ...ana, plan: 'pro', status: 'active' });
    await hub.send(subscriptionChanged, { ...ana, plan: 'pro', status: 'past_due' });
    await hub.settled();

    const record = await hub.record(customer, ana);
    expect(record?.parts).toEqual({ contact: { name: 'Ana', email: 'ana@example.com' }, billing: { plan: 'pro', status: 'past_due' } });
    expect((await hub.audit(customer, 'CC-1015')).filter((a) => a.field === 'status').map((a) => [a.oldValue, a.newValue])).toEqual([
      [undefined, 'active'],
      ['active', 'past_due'],
    ]);

    const desk = hub.captured('support-desk');
    expect(desk.map((r) => [r.method, r.url, (r.body as { status: string | null }).status])).toEqual([
      ['PUT', 'https://desk.example.com/customers/CC-1015', null],
      ['PUT', 'https://desk.example.com/customers/CC-1015', 'active'],
      ['PUT', 'https://desk.example.com/customers/CC-1015', 'past_due'],
    ]);
    for (const request of desk) expect(new Webhook(secret).verify(request.raw, request.headers)).toEqual(request.body);

    expect(hub.captured('billing-alerts').map((r) => (r.body as { text: string }).text)).toEqual(['Customer CC-1015 is past due on the pro plan']);
    expect((await hub.deliveries('billing-alerts')).map((d) => d.status)).toEqual(['ignored', 'succeeded']);
  });
});
