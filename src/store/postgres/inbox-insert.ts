// Writing events into the inbox, shared by `accept` and source page commits.
import type pg from 'pg';
import type { AcceptOutcome, NewInboxEvent } from '../types.js';
import { CHANNELS, jsonRows, LOCKS, named } from './connection.js';

const INBOX_ROWS = jsonRows(1, { event_id: 'text', name: 'text', version: 'int', flow_id: 'text', entity: 'text', key: 'text', envelope: 'text', accepted_at: 'bigint' });

/**
 * Inserts the events in the caller's transaction, deduplicating by event id (also within the
 * array), and queues a wake-up for idle processors that fires on commit.
 *
 * Sequence numbers are drawn at insert but become visible at commit, so two transactions could
 * commit a key's seq 8 after its seq 9 and a processor would apply 9 first. A transaction lock
 * per key (taken in one order, so two writers never deadlock) makes a key's writers take turns:
 * per key, seq order is commit order.
 */
export async function insertInbox(client: pg.ClientBase, events: readonly NewInboxEvent[]): Promise<AcceptOutcome[]> {
  if (events.length === 0) return [];
  const entities = events.map((e) => e.entity);
  const keys = await routedKeys(client, events);
  await client.query(
    named('inbox.lock-keys', `SELECT pg_advisory_xact_lock($1, h) FROM (SELECT DISTINCT hashtext(e || '/' || k) AS h FROM unnest($2::text[], $3::text[]) AS u(e, k) ORDER BY h) AS ordered`),
    [LOCKS.keysClass, entities, keys],
  );
  const { rows } = await client.query<{ event_id: string; seq: number }>(
    named('inbox.insert', `INSERT INTO inbox (event_id, name, version, flow_id, entity, key, envelope, accepted_at)
     SELECT event_id, name, version, flow_id, entity, key, envelope, accepted_at FROM ${INBOX_ROWS} ORDER BY n
     ON CONFLICT (event_id) DO NOTHING
     RETURNING event_id, seq`),
    [
      JSON.stringify(
        events.map((e, i) => ({ event_id: e.eventId, name: e.name, version: e.version, flow_id: e.flowId, entity: e.entity, key: keys[i], envelope: JSON.stringify(e.envelope), accepted_at: e.acceptedAt })),
      ),
    ],
  );
  const inserted = new Map(rows.map((r) => [r.event_id, r.seq]));
  const outcomes = events.map((e): AcceptOutcome => {
    const seq = inserted.get(e.eventId);
    if (seq === undefined) return { status: 'duplicate' };
    inserted.delete(e.eventId); // a second copy in the same array is a duplicate
    return { status: 'accepted', seq };
  });
  if (rows.length > 0) await client.query(named('inbox.notify', 'SELECT pg_notify($1, $2)'), [CHANNELS.inbox, '']);
  return outcomes;
}

/**
 * Each event's key: a routed event's is the key of the record its identifier value is linked to,
 * when one is (read before the key locks are taken, which are by the key the event is filed under).
 */
async function routedKeys(client: pg.ClientBase, events: readonly NewInboxEvent[]): Promise<string[]> {
  const keys = events.map((e) => e.key);
  const routed = events.flatMap((e, i) => (e.route ? [{ i, entity: e.entity, ...e.route }] : []));
  if (routed.length === 0) return keys;
  const { rows } = await client.query<{ i: number; key: string }>(
    named('inbox.route', `SELECT v.i, l.key FROM unnest($1::int[], $2::text[], $3::text[], $4::text[]) AS v(i, entity, identifier, value)
     JOIN identifier_links l ON l.entity = v.entity AND l.identifier = v.identifier AND l.value = v.value`),
    [routed.map((r) => r.i), routed.map((r) => r.entity), routed.map((r) => r.identifier), routed.map((r) => r.value)],
  );
  for (const row of rows) keys[row.i] = row.key;
  return keys;
}
