// The read side: records, time travel from the audit trail, audit pages, event
// traces, the admin token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, API_KEY, contact, envelope, eventually, startTestHub, type TestHub } from './support/index.js';

/** Timestamps have millisecond resolution: a moment taken after this lies strictly after everything before it. */
const clockMovesOn = (from = Date.now()) => eventually(() => Date.now() > from, 1000, 'the clock to move on');

describe('read API', () => {
  let t: TestHub;
  const moments: string[] = [];
  const ids: string[] = [];
  const wait = { metadata: { wait: true } };

  beforeAll(async () => {
    t = await startTestHub();
    const steps = [
      envelope('crm:contact:updated', { ...contact('1015', 'Ana'), phone: '555-0100' }, wait),
      envelope('billing:subscription:changed', { documentType: 'CC', documentNumber: '1015', plan: 'free', status: 'active' }, wait),
      envelope('crm:contact:updated', contact('1015', 'Ana Maria', 'ana@example.com'), wait),
      envelope('billing:subscription:changed', { documentType: 'CC', documentNumber: '1015', plan: 'pro', status: 'past_due' }, wait),
    ];
    for (const step of steps) {
      const answer = await t.send(step);
      expect(answer.body.payload.status).toBe('processed');
      ids.push(step.id);
      await clockMovesOn(); // the moment lies after this step...
      const moment = new Date();
      moments.push(moment.toISOString());
      await clockMovesOn(moment.getTime()); // ...and before the next
    }
  });
  afterAll(async () => {
    await t.close();
  });

  it('returns the current record', async () => {
    const { status, body } = await t.get('/api/v1/entities/customer/CC-1015');
    expect(status).toBe(200);
    expect(body).toEqual({
      entity: 'customer',
      key: 'CC-1015',
      version: 4,
      parts: { contact: { name: 'Ana Maria', email: 'ana@example.com' }, billing: { plan: 'pro', status: 'past_due' } },
      updatedAt: expect.any(String),
    });
  });

  it('rebuilds the record as it was at any moment from the audit trail', async () => {
    const at = async (iso: string) => (await t.get(`/api/v1/entities/customer/CC-1015?at=${encodeURIComponent(iso)}`)).body;
    expect(await at(moments[0]!)).toMatchObject({ version: 1, parts: { contact: { name: 'Ana', email: 'ana@example.com', phone: '555-0100' } } });
    expect((await at(moments[0]!)).parts).not.toHaveProperty('billing');
    expect(await at(moments[1]!)).toMatchObject({ version: 2, parts: { billing: { plan: 'free', status: 'active' } } });
    const third = await at(moments[2]!);
    expect(third.version).toBe(3);
    expect(third.parts.contact).toEqual({ name: 'Ana Maria', email: 'ana@example.com' });
    const now = await t.get('/api/v1/entities/customer/CC-1015');
    expect(await at(moments[3]!)).toEqual(now.body);
    const before = await t.get('/api/v1/entities/customer/CC-1015?at=2000-01-01T00:00:00Z');
    expect(before.status).toBe(404);
    expect(before.body.error.code).toBe('RECORD_NOT_FOUND');
  });

  it('rejects a malformed time with 400 naming the field', async () => {
    const { status, body } = await t.get('/api/v1/entities/customer/CC-1015?at=yesterday');
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'INVALID_REQUEST', details: { fields: [{ name: 'at' }] } });
  });

  it('pages the audit trail oldest first with a cursor, null on the last page', async () => {
    const all = (await t.get('/api/v1/entities/customer/CC-1015/audit')).body;
    expect(all.next).toBeNull();
    expect(all.items.map((i: any) => `${i.part}.${i.field}:${i.oldValue}->${i.newValue}`)).toEqual([
      'contact.name:null->Ana',
      'contact.email:null->ana@example.com',
      'contact.phone:null->555-0100',
      'billing.plan:null->free',
      'billing.status:null->active',
      'contact.name:Ana->Ana Maria',
      'contact.phone:555-0100->null',
      'billing.plan:free->pro',
      'billing.status:active->past_due',
    ]);
    expect(all.items[0]).toMatchObject({ rule: 'crm:contact:updated@v1', eventId: ids[0], flowId: expect.any(String), at: expect.any(String) });

    const seen: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: any = (await t.get(`/api/v1/entities/customer/CC-1015/audit?limit=4${cursor ? `&cursor=${cursor}` : ''}`)).body;
      seen.push(...page.items);
      cursor = page.next;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(all.items);
  });

  it('validates audit paging parameters', async () => {
    expect((await t.get('/api/v1/entities/customer/CC-1015/audit?limit=0')).status).toBe(400);
    expect((await t.get('/api/v1/entities/customer/CC-1015/audit?limit=1001')).status).toBe(400);
    const bad = await t.get('/api/v1/entities/customer/CC-1015/audit?cursor=garbage');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_CURSOR');
  });

  it('answers 404 for an unknown entity or key', async () => {
    expect((await t.get('/api/v1/entities/customer/CC-9999')).status).toBe(404);
    const unknown = await t.get('/api/v1/entities/martian/X');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('ENTITY_NOT_FOUND');
  });

  it("traces an event: status, entity, key and the changes it made", async () => {
    const { status, body } = await t.get(`/api/v1/events/${ids[2]}`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      eventId: ids[2],
      name: 'crm:contact:updated',
      status: 'processed',
      entity: 'customer',
      key: 'CC-1015',
      result: { version: 3, changedParts: ['contact'] },
      changes: [
        {
          version: 3,
          rule: 'crm:contact:updated@v1',
          changedParts: ['contact'],
          diffs: [
            { part: 'contact', field: 'name', oldValue: 'Ana', newValue: 'Ana Maria' },
            { part: 'contact', field: 'phone', oldValue: '555-0100', newValue: null },
          ],
        },
      ],
    });
    expect((await t.get('/api/v1/events/nope')).status).toBe(404);
  });

  it('shows a queued event as queued', async () => {
    const idle = await startTestHub({ process: false });
    const e = envelope('crm:contact:updated', contact('1', 'Q'));
    await idle.send(e);
    expect((await idle.get(`/api/v1/events/${e.id}`)).body).toMatchObject({ status: 'queued', processedAt: null, changes: [] });
    await idle.close();
  });

  it('requires the admin token; the API key is not enough (its ingest scope is not read); /healthz is open', async () => {
    expect(await t.get('/api/v1/entities/customer/CC-1015', API_KEY)).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    expect((await t.get('/api/v1/parked', 'wrong')).status).toBe(401);
    expect((await t.get('/api/v1/parked', ADMIN_TOKEN)).status).toBe(200);
    const health = await t.get('/healthz', '');
    expect(health).toEqual({ status: 200, body: { status: 'ok', store: 'sqlite', queued: 0, parkedKeys: 0, records: 1 } });
  });
});
