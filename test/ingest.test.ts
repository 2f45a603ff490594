// Guarantees 1 and 2 over real HTTP: an acknowledged event is committed, the
// same id twice is applied once, and `metadata.wait` answers after the rule.
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { contact, envelope, eventually, startTestHub, type TestHub } from './support/index.js';

describe('ingest', () => {
  let t: TestHub;
  afterEach(async () => {
    await t?.close();
  });

  it('commits an event before answering accepted (read back from the file by another connection)', async () => {
    t = await startTestHub({ process: false });
    const e = envelope('crm:contact:updated', contact('1015', 'Ana'));
    const answer = await t.send(e);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ name: 'crm:contact:updated:response', id: e.id, flowId: e.flowId, payload: { status: 'accepted', eventId: e.id } });
    const db = new Database(t.dbPath, { readonly: true });
    const row = db.prepare('SELECT status, entity, key, envelope FROM inbox WHERE event_id = ?').get(e.id) as { status: string; entity: string; key: string; envelope: string };
    db.close();
    expect(row).toMatchObject({ status: 'queued', entity: 'customer', key: 'CC-1015' });
    expect(JSON.parse(row.envelope)).not.toHaveProperty('auth');
  });

  it('never stores the credentials sent inside the envelope', async () => {
    t = await startTestHub({ process: false });
    const e = envelope('crm:contact:updated', contact('1015', 'Ana'), { auth: { token: 'ck_test_key_0123456789abcdef' } });
    expect((await t.send(e, {})).body.name).toBe('crm:contact:updated:response');
    const db = new Database(t.dbPath, { readonly: true });
    const row = db.prepare('SELECT envelope FROM inbox WHERE event_id = ?').get(e.id) as { envelope: string };
    db.close();
    expect(row.envelope).not.toContain('ck_test_key');
  });

  it('applies an event id once; the second answer says duplicate', async () => {
    t = await startTestHub();
    const e = envelope('crm:contact:updated', contact('1015', 'Ana'));
    expect((await t.send(e)).body.payload).toEqual({ status: 'accepted', eventId: e.id });
    const again = await t.send({ ...e, payload: contact('1015', 'Changed') });
    expect(again.body).toMatchObject({ name: 'crm:contact:updated:response', payload: { status: 'duplicate', eventId: e.id } });
    // Concurrent copies of one new id: exactly one is accepted.
    const f = envelope('crm:contact:updated', contact('2000', 'Bo'));
    const answers = await Promise.all(Array.from({ length: 10 }, () => t.send(f)));
    expect(answers.map((a) => a.body.payload.status).sort()).toEqual(['accepted', ...Array(9).fill('duplicate')]);

    const record = await eventually(async () => {
      const r = await t.get('/api/v1/entities/customer/CC-1015');
      return r.status === 200 && r.body;
    });
    expect(record).toMatchObject({ version: 1, parts: { contact: { name: 'Ana' } } });
    const audit = await t.get('/api/v1/entities/customer/CC-1015/audit');
    expect(audit.body.items.filter((i: { field: string }) => i.field === 'name')).toHaveLength(1);
  });

  it('with metadata.wait answers after the rule ran: processed, version, changed parts', async () => {
    t = await startTestHub();
    const first = await t.send(envelope('crm:contact:updated', contact('1015', 'Ana'), { metadata: { wait: true } }));
    expect(first.body.payload).toMatchObject({ status: 'processed', entity: 'customer', key: 'CC-1015', version: 1, changedParts: ['contact'] });
    const second = await t.send(envelope('billing:subscription:changed', { documentType: 'CC', documentNumber: '1015', plan: 'pro', status: 'active' }, { metadata: { wait: true } }));
    expect(second.body.payload).toMatchObject({ status: 'processed', version: 2, changedParts: ['billing'] });
    const same = await t.send(envelope('billing:subscription:changed', { documentType: 'CC', documentNumber: '1015', plan: 'pro', status: 'active' }, { metadata: { wait: true } }));
    expect(same.body.payload).toMatchObject({ status: 'processed', version: 2, changedParts: [] });
  });

  it('bounds the wait: with no processor running it answers accepted with waitTimedOut', async () => {
    t = await startTestHub({ process: false, ingest: { waitTimeoutMs: 150 } });
    const started = Date.now();
    const answer = await t.send(envelope('crm:contact:updated', contact('1015', 'Ana'), { metadata: { wait: true } }));
    expect(answer.body.payload).toMatchObject({ status: 'accepted', waitTimedOut: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('rejects a key field containing the separator as badRequest naming the field', async () => {
    t = await startTestHub();
    const answer = await t.send(envelope('crm:contact:updated', { ...contact('10-15', 'Ana') }));
    expect(answer.body).toMatchObject({ name: 'crm:contact:updated:badRequest', payload: { code: 'INVALID_PAYLOAD', parameters: { fields: [{ name: 'documentNumber' }] } } });
  });

  it('answers :error and keeps nothing when the store cannot commit', async () => {
    t = await startTestHub({ process: false });
    const db = new Database(t.dbPath);
    db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON inbox BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`);
    const e = envelope('crm:contact:updated', contact('1015', 'Ana'));
    const answer = await t.send(e);
    expect(answer.body).toMatchObject({ name: 'crm:contact:updated:error', id: e.id, payload: { code: 'UNHANDLED_ERROR' } });
    db.exec('DROP TRIGGER refuse');
    expect((db.prepare('SELECT count(*) AS n FROM inbox').get() as { n: number }).n).toBe(0);
    db.close();
    // The sender retries the same id later and it goes through.
    expect((await t.send(e)).body.payload.status).toBe('accepted');
  });
});
