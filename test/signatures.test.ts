// Keys that sign their requests (Standard Webhooks) over real HTTP: the HMAC
// covers the exact body, a stale or future timestamp is refused, and a message
// id is accepted once. Unsigned keys are unaffected.
import { request } from 'undici';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contact, envelope, startTestHub, type TestHub } from './support/index.js';

describe('signed keys', () => {
  let t: TestHub;
  let key: string;
  let secret: string;
  let n = 0;
  beforeAll(async () => {
    t = await startTestHub({ process: false });
    const created = await t.call('POST', '/api/v1/keys', { name: 'billing-webhooks', scopes: ['ingest'], signed: true });
    expect(created.body.signed).toBe(true);
    key = created.body.key;
    secret = created.body.signingSecret;
    expect(secret).toMatch(/^whsec_/);
  });
  afterAll(async () => {
    await t?.close();
  });

  const body = () => JSON.stringify(envelope('crm:contact:updated', contact(`40${(n += 1)}`, 'Ana')));
  const signed = (text: string, over: { id?: string; at?: Date; secret?: string } = {}) => {
    const id = over.id ?? `msg_${Date.now()}_${Math.random()}`;
    const at = over.at ?? new Date();
    return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(over.secret ?? secret).sign(id, at, text) };
  };
  const send = async (path: string, text: string, headers: Record<string, string>) => {
    const response = await request(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers }, body: text });
    return (await response.body.json()) as any;
  };

  it('accepts a request signed over its exact body', async () => {
    const text = body();
    expect((await send('/events', text, signed(text))).name).toBe('crm:contact:updated:response');
  });

  it('refuses an unsigned request, a tampered body and the wrong secret as unauthorized, saying why', async () => {
    const unsigned = await send('/events', body(), {});
    expect(unsigned).toMatchObject({ name: 'crm:contact:updated:unauthorized', payload: { code: 'UNAUTHORIZED', parameters: { message: expect.stringContaining('Missing required headers') } } });
    const text = body();
    const headers = signed(text);
    expect((await send('/events', text.replace('Ana', 'Eve'), headers)).payload.parameters.message).toMatch(/signs its requests.*No matching signature/);
    const wrong = signed(text, { secret: `whsec_${Buffer.alloc(32, 7).toString('base64')}` });
    expect((await send('/events', text, wrong)).name).toBe('crm:contact:updated:unauthorized');
  });

  it('refuses a stale or future timestamp', async () => {
    const text = body();
    expect((await send('/events', text, signed(text, { at: new Date(Date.now() - 6 * 60_000) }))).payload.parameters.message).toMatch(/too old/);
    expect((await send('/events', text, signed(text, { at: new Date(Date.now() + 6 * 60_000) }))).payload.parameters.message).toMatch(/too new/);
  });

  it('refuses a replay: the same message id is accepted once', async () => {
    const text = body();
    const headers = signed(text);
    expect((await send('/events', text, headers)).name).toBe('crm:contact:updated:response');
    const again = await send('/events', text, headers);
    expect(again).toMatchObject({ name: 'crm:contact:updated:unauthorized', payload: { parameters: { message: expect.stringMatching(/already received/) } } });
  });

  it('checks a bulk request once over its whole body', async () => {
    const text = JSON.stringify([JSON.parse(body()), JSON.parse(body())]);
    const answers = (await send('/events/bulk', text, signed(text))) as Array<{ name: string }>;
    expect(answers.map((a) => a.name)).toEqual(['crm:contact:updated:response', 'crm:contact:updated:response']);
    const unsigned = (await send('/events/bulk', text, {})) as Array<{ name: string }>;
    expect(unsigned.map((a) => a.name)).toEqual(['crm:contact:updated:unauthorized', 'crm:contact:updated:unauthorized']);
  });

  it('leaves unsigned keys alone', async () => {
    const plain = (await t.call('POST', '/api/v1/keys', { name: 'plain', scopes: ['ingest'] })).body.key as string;
    expect((await t.send(JSON.parse(body()), { authorization: `Bearer ${plain}` })).body.name).toBe('crm:contact:updated:response');
  });
});
