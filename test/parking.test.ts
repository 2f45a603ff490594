// Guarantee 3, its failure half: a rule that throws parks its key instead of
// skipping ahead; other keys flow; an operator retries or skips.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { envelope, eventually, startTestHub, type TestHub } from './support/index.js';
import { failing, ledgerFlow } from './support/flows.js';

const post = (id: string, label: string, extra: Record<string, unknown> = {}) => envelope('ledger:entry:posted', { id, amount: 10, label, ...extra });

describe('parked keys', () => {
  let t: TestHub;
  beforeEach(async () => {
    failing.clear();
    t = await startTestHub({ flow: ledgerFlow, ingest: { waitTimeoutMs: 500 } });
  });
  afterEach(async () => {
    await t.close();
  });

  const ledger = async (id: string) => (await t.get(`/api/v1/entities/account/${id}`)).body?.parts?.ledger;

  it('parks the key at the failing event, keeps its later events queued, lets other keys flow, and resumes in order on retry', async () => {
    failing.add('a2');
    const [a1, a2, a3, b1, b2] = [post('A', 'a1'), post('A', 'a2'), post('A', 'a3'), post('B', 'b1'), post('B', 'b2')];
    for (const e of [a1, a2, a3, b1, b2]) expect((await t.send(e!)).body.payload.status).toBe('accepted');

    await eventually(async () => (await ledger('B'))?.entries === 2, 5000, 'key B to flow');
    const parked = await eventually(async () => {
      const body = (await t.get('/api/v1/parked')).body;
      return body.items.length === 1 && body.items;
    });
    expect(parked[0]).toMatchObject({ entity: 'account', key: 'A', eventId: a2!.id, waiting: 2, error: { code: 'RULE_FAILED', message: 'rule "ledger:entry:posted@v1" threw: cannot post a2' } });
    expect(await ledger('A')).toMatchObject({ history: ['a1'] });
    expect((await t.get(`/api/v1/events/${a2!.id}`)).body).toMatchObject({ status: 'parked', error: { code: 'RULE_FAILED' } });
    expect((await t.get(`/api/v1/events/${a3!.id}`)).body.status).toBe('queued');

    // New events for the parked key wait behind it too; wait=true says so once the wait runs out.
    const a4 = post('A', 'a4');
    const late = await t.send({ ...a4, metadata: { wait: true } });
    expect(late.body.payload).toMatchObject({ status: 'accepted' });

    // Retrying while the cause is still there parks it again, with nothing applied.
    expect((await t.post('/api/v1/parked/account/A/retry')).body).toEqual({ entity: 'account', key: 'A', status: 'retrying' });
    await eventually(async () => (await t.get('/api/v1/parked')).body.items.length === 1, 5000, 're-park');
    expect(await ledger('A')).toMatchObject({ history: ['a1'] });

    failing.clear();
    expect((await t.post('/api/v1/parked/account/A/retry')).status).toBe(200);
    await eventually(async () => (await ledger('A'))?.entries === 4, 5000, 'key A to resume');
    expect(await ledger('A')).toEqual({ balance: 40, entries: 4, last: 'a4', history: ['a1', 'a2', 'a3', 'a4'] });
    expect((await t.get('/api/v1/parked')).body.items).toEqual([]);
  });

  it('answers a waiting sender with the parked status and error', async () => {
    const answer = await t.send({ ...post('C', 'c1', { fail: true }), metadata: { wait: true } });
    expect(answer.body.payload).toMatchObject({ status: 'parked', entity: 'account', key: 'C', error: { code: 'RULE_FAILED' } });
  });

  it('skips the parked event on request and lets the key flow on', async () => {
    const [c1, c2] = [post('C', 'c1', { fail: true }), post('C', 'c2')];
    await t.send(c1);
    await t.send(c2);
    await eventually(async () => (await t.get('/api/v1/parked')).body.items.length === 1, 5000, 'park');
    const skipped = await t.post('/api/v1/parked/account/C/skip');
    expect(skipped.body).toEqual({ entity: 'account', key: 'C', status: 'skipped', skippedEventId: c1.id });
    await eventually(async () => (await ledger('C'))?.entries === 1, 5000, 'c2 applied');
    expect(await ledger('C')).toMatchObject({ history: ['c2'] });
    expect((await t.get(`/api/v1/events/${c1.id}`)).body).toMatchObject({ status: 'skipped', changes: [] });
  });

  it('parks on a rule output its part schema rejects', async () => {
    const answer = await t.send({ ...post('D', 'd1', { badOutput: true }), metadata: { wait: true } });
    expect(answer.body.payload).toMatchObject({ status: 'parked', error: { code: 'RULE_OUTPUT_INVALID', details: { fields: [{ name: 'ledger.balance' }] } } });
  });

  it('answers 404 when asked to retry or skip a key that is not parked', async () => {
    expect((await t.post('/api/v1/parked/account/NOPE/retry')).status).toBe(404);
    const skip = await t.post('/api/v1/parked/account/NOPE/skip');
    expect(skip.status).toBe(404);
    expect(skip.body.error.code).toBe('NOT_PARKED');
  });
});
