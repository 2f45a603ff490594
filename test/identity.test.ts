// Identifiers (issue 18, first part): a value set by a rule links to its
// record, an event routed by that value goes to the record, an unknown value
// makes a record of its own (`email:<value>`), and a value another record
// holds, one past the limit, or a blocked one is refused with a reason. On
// SQLite and on PostgreSQL with two hubs sharing the database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { PostgresStore } from '../src/store/postgres/index.js';
import { envelope, eventually, startTestHub, type TestHub } from './support/index.js';
import { memberFlow } from './support/flows.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

type Hubs = { hubs: TestHub[]; close: () => Promise<void> };

const drivers: Record<string, () => Promise<Hubs>> = {
  sqlite: async () => {
    const hub = await startTestHub({ flow: memberFlow });
    return { hubs: [hub], close: () => hub.close() };
  },
  'postgres, two hubs': async () => {
    const db: TestDatabase = await createTestDatabase('identity');
    const hubs: TestHub[] = [];
    for (let i = 0; i < 2; i++) {
      const store = new PostgresStore({ url: db.url, log: pino({ level: 'silent' }) });
      await store.init();
      hubs.push(await startTestHub({ flow: memberFlow, store }));
    }
    return {
      hubs,
      close: async () => {
        for (const hub of hubs) await hub.close();
        await db.drop();
      },
    };
  },
};

for (const [driver, open] of Object.entries(drivers)) {
  describe(`identifiers: ${driver}`, () => {
    let opened: Hubs;
    let turn = 0;
    /** Each call goes to the next hub, so on PostgreSQL the two share the work. */
    const hub = () => opened.hubs[turn++ % opened.hubs.length]!;
    beforeAll(async () => {
      opened = await open();
    });
    afterAll(async () => {
      await opened?.close();
    });

    /** Sends and waits for the outcome (`metadata.wait`). */
    const send = async (name: string, payload: Record<string, unknown>) => {
      const answer = await hub().send(envelope(name, payload, { metadata: { wait: true } }));
      return answer.body.payload ?? answer.body;
    };
    const update = (id: string, email?: string) => send('crm:member:updated', { id, name: id, ...(email === undefined ? {} : { email }) });
    const ticket = (email: string, ticketId: string) => send('desk:ticket:opened', { email, ticketId, openedAt: `2026-12-0${ticketId.length}T10:00:00Z` });
    const record = async (key: string) => (await hub().get(`/api/v1/entities/member/${encodeURIComponent(key)}`)).body;
    const identifiers = async (key: string) => (await hub().get(`/api/v1/entities/member/${encodeURIComponent(key)}/identifiers`)).body;

    it('links the email a rule sets, then routes a ticket by that email (normalised) to the record', async () => {
      expect(await update('M-1', 'Ana@Example.com')).toMatchObject({ status: 'processed', key: 'M-1' });
      const links = await identifiers('M-1');
      expect(links.items).toEqual([{ identifier: 'email', value: 'ana@example.com', eventId: expect.any(String), linkedAt: expect.any(String) }]);

      expect(await ticket('  ANA@example.COM ', 't1')).toMatchObject({ status: 'processed', key: 'M-1', changedParts: ['support'] });
      expect((await record('M-1')).parts).toEqual({ contact: { name: 'M-1', email: 'Ana@Example.com' }, support: { openTickets: 1, lastTicketAt: '2026-12-02T10:00:00Z' } });
    });

    it('gives a ticket from an unknown email a record of its own, keyed email:<value>, which the next ticket finds', async () => {
      expect(await ticket('Bob@Example.com', 't1')).toMatchObject({ status: 'processed', key: 'email:bob@example.com' });
      expect(await ticket('bob@example.com', 't22')).toMatchObject({ status: 'processed', key: 'email:bob@example.com' });
      expect((await record('email:bob@example.com')).parts.support.openTickets).toBe(2);
      expect((await identifiers('email:bob@example.com')).items.map((l: { value: string }) => l.value)).toEqual(['bob@example.com']);
    });

    it('parks an event that would link a value another record holds, naming both records', async () => {
      await ticket('cy@example.com', 't1');
      const parked = await update('M-2', 'CY@example.com');
      expect(parked).toMatchObject({ status: 'parked', key: 'M-2', error: { code: 'IDENTIFIER_CONFLICT', details: { holder: 'email:cy@example.com', key: 'M-2', value: 'cy@example.com' } } });
      expect(parked.error.message).toMatch(/cy@example.com belongs to member email:cy@example.com; this event would link it to member M-2/);
      const list = (await hub().get('/api/v1/parked')).body.items;
      expect(list).toContainEqual(expect.objectContaining({ entity: 'member', key: 'M-2', error: expect.objectContaining({ code: 'IDENTIFIER_CONFLICT' }) }));
      expect(await record('M-2')).toMatchObject({ error: { code: 'RECORD_NOT_FOUND' } });
    });

    it('lets only one of two records sent together take one value, on any hub', async () => {
      // Sent without waiting, to both hubs where there are two: they may race for the value.
      const first = envelope('crm:member:updated', { id: 'M-5', name: 'M-5', email: 'same@example.com' });
      const second = envelope('crm:member:updated', { id: 'M-6', name: 'M-6', email: 'Same@example.com' });
      await Promise.all([hub().send(first), hub().send(second)]);
      const outcome = async (id: string) => (await hub().get(`/api/v1/events/${id}`)).body.status;
      const settled = await eventually(async () => {
        const both = [await outcome(first.id), await outcome(second.id)];
        return both.every((s) => s === 'processed' || s === 'parked') && both;
      }, 10_000, 'both outcomes');
      expect([...settled].sort()).toEqual(['parked', 'processed']);
      const winner = settled[0] === 'processed' ? 'M-5' : 'M-6';
      expect((await identifiers(winner)).items.map((l: { value: string }) => l.value)).toEqual(['same@example.com']);
    });

    it('parks a change past the identifier limit and never links blocked values', async () => {
      expect(await update('M-3', 'one@example.com')).toMatchObject({ status: 'processed' });
      expect(await update('M-3', 'two@example.com')).toMatchObject({ status: 'processed' });
      expect(await update('M-3', 'noreply@example.com')).toMatchObject({ status: 'processed' }); // blocked: set, not linked
      const third = await update('M-3', 'three@example.com');
      expect(third).toMatchObject({ status: 'parked', error: { code: 'IDENTIFIER_LIMIT', details: { limit: 2, value: 'three@example.com' } } });
      expect((await identifiers('M-3')).items.map((l: { value: string }) => l.value).sort()).toEqual(['one@example.com', 'two@example.com']);
      // Skipped, the key flows again; the older value still routes to the record.
      expect((await hub().post('/api/v1/parked/member/M-3/skip')).status).toBe(200);
      expect(await ticket('one@example.com', 't1')).toMatchObject({ status: 'processed', key: 'M-3' });
    });

    it('refuses a ticket routed by a blocked or empty email at the door, storing nothing', async () => {
      for (const email of ['noreply@example.com', ' ', 'null', '000']) {
        const answer = await hub().send(envelope('desk:ticket:opened', { email, ticketId: 't', openedAt: 'x' }));
        expect(answer.body.name, email).toBe('desk:ticket:opened:badRequest');
        expect(answer.body.payload).toMatchObject({ code: 'INVALID_PAYLOAD', parameters: { fields: [{ name: 'email', errorType: 'invalid_key' }] } });
      }
      expect((await hub().get('/api/v1/entities/member/email:noreply@example.com/identifiers')).status).toBe(404);
    });
  });
}
