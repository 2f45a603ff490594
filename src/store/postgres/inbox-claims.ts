// Processing on a shared database: a worker claims keys, not just events. A
// claimed key is leased to its worker (`inbox_leases`, database clock) until
// the batch commits or the lease runs out; nobody else applies its events
// meanwhile, and a dead worker's keys are taken over after the lease, or at
// once when its process is declared down (HealthStore.reapSilent deletes its
// lease rows). Commits keep SQLite's optimistic guards too, so a worker whose
// lease ran out or was taken writes nothing.
import type pg from 'pg';
import { StaleBatchError } from '../../errors/index.js';
import { encodeOptional } from '../json-columns.js';
import { recordId, type ClaimedBatch } from '../store.js';
import type { BatchCommit, StoredRecord } from '../types.js';
import { BEGIN_INDEX_SCANS, CHANNELS, jsonRows, LOCKS, named, NOW_MS, transaction } from './connection.js';
import { toInboxEvent, toRecord, type InboxRow, type RecordRow } from '../rows.js';
import { insertDeliveriesFrom, newDeliveriesParam, wakesDispatchers } from './postgres-deliveries.js';

const RECORD_COLUMNS = { entity: 'text', key: 'text', version: 'int', parts: 'text', created_at: 'bigint', updated_at: 'bigint', expected: 'int' };
const AUDIT_COLUMNS = {
  entity: 'text',
  key: 'text',
  version: 'int',
  part: 'text',
  field: 'text',
  old_value: 'text',
  new_value: 'text',
  rule: 'text',
  event_id: 'text',
  flow_id: 'text',
  at: 'bigint',
};
const CHANGE_COLUMNS = {
  entity: 'text',
  key: 'text',
  version: 'int',
  event_id: 'text',
  flow_id: 'text',
  rule: 'text',
  changed_parts: 'text',
  diffs: 'text',
  record: 'text',
  at: 'bigint',
};
const DIGEST_COLUMNS = { integration: 'text', window_start: 'bigint', entity: 'text', key: 'text', event_id: 'text', item: 'text', created_at: 'bigint' };
const PROCESSED_COLUMNS = { seq: 'bigint', at: 'bigint', result: 'text' };

/**
 * Everything a processed batch writes, once its leases are checked, in one statement: records
 * created ($1) and updated ($2, found through the primary key by $3/$4), audit ($5), changes ($6),
 * deliveries ($7), digest items ($8), events marked processed ($9), leases released ($10-$12) and
 * notifications ($13/$14). It was eight to ten statements, each a round trip that waits for the
 * hub's event loop under load; a check that fails after it (a record moved, an event no longer
 * queued) rolls it all back. Each step's rows are a JSON array, empty when it has nothing to write.
 * Every step sees the same snapshot and no two touch the same rows.
 */
const COMMIT_WRITES = `WITH
  created AS (
    INSERT INTO records (entity, key, version, parts, created_at, updated_at)
    SELECT entity, key, version, parts, created_at, updated_at FROM ${jsonRows(1, RECORD_COLUMNS)} ORDER BY n
    ON CONFLICT (entity, key) DO NOTHING RETURNING entity, key),
  updated AS (
    -- The ANY conditions find the records through the primary key: from the JSON rows alone the
    -- planner guesses 100 rows and scans every record (measured: 350-400 records read per event
    -- with keys reused).
    UPDATE records r SET version = u.version, parts = u.parts, updated_at = u.updated_at FROM ${jsonRows(2, RECORD_COLUMNS)}
    WHERE r.entity = ANY($3::text[]) AND r.key = ANY($4::text[]) AND r.entity = u.entity AND r.key = u.key AND r.version = u.expected
    RETURNING r.entity, r.key),
  audit AS (
    INSERT INTO audit (entity, key, version, part, field, old_value, new_value, rule, event_id, flow_id, at)
    SELECT entity, key, version, part, field, old_value, new_value, rule, event_id, flow_id, at FROM ${jsonRows(5, AUDIT_COLUMNS)} ORDER BY n),
  changes AS (
    -- A change whose version exists already was written by a worker that moved the record first:
    -- the record check below finds the batch stale and rolls all of it back.
    INSERT INTO changes (entity, key, version, event_id, flow_id, rule, changed_parts, diffs, record, at)
    SELECT entity, key, version, event_id, flow_id, rule, changed_parts, diffs, record, at FROM ${jsonRows(6, CHANGE_COLUMNS)} ORDER BY n
    ON CONFLICT (entity, key, version) DO NOTHING),
  deliveries AS (${insertDeliveriesFrom(7)}),
  digest AS (
    INSERT INTO digest_items (integration, window_start, entity, key, event_id, item, created_at)
    SELECT integration, window_start, entity, key, event_id, item, created_at FROM ${jsonRows(8, DIGEST_COLUMNS)} ORDER BY n),
  processed AS (
    UPDATE inbox SET status = 'processed', processed_at = u.at, result = u.result FROM ${jsonRows(9, PROCESSED_COLUMNS)}
    WHERE inbox.seq = u.seq AND inbox.status = 'queued' RETURNING inbox.seq),
  released AS (
    DELETE FROM inbox_leases l USING unnest($10::text[], $11::text[]) AS w(entity, key)
    WHERE l.entity = w.entity AND l.key = w.key AND l.owner = $12),
  notified AS (SELECT pg_notify(channel, payload) FROM unnest($13::text[], $14::text[]) AS m(channel, payload))
SELECT (SELECT coalesce(json_agg(json_build_array(entity, key)), '[]') FROM created) AS created,
       (SELECT coalesce(json_agg(json_build_array(entity, key)), '[]') FROM updated) AS updated,
       (SELECT coalesce(array_agg(seq), '{}') FROM processed) AS processed,
       (SELECT count(*) FROM notified) AS notified`;
const LINK_ROWS = jsonRows(1, { entity: 'text', identifier: 'text', value: 'text', key: 'text', event_id: 'text', linked_at: 'bigint' });
const PARKED_ROWS = jsonRows(1, { entity: 'text', key: 'text', event_id: 'text', error: 'text', parked_at: 'bigint' });

/**
 * A key of the batch has no lease row: either this owner's own commit of an earlier part of the
 * batch deleted it (the processor commits a failed batch again in parts, a lone key's events one
 * at a time), which is fine, or another process declared this one down (or it stopped) and
 * deleted it with every other lease it held (HealthStore.reapSilent), and then whatever it holds
 * in hand must not land. The owner is the process's id, so its row tells them apart (no row: the
 * owner is no registered process, and nothing reaps it). Read without a lock: a reaper that
 * deleted any of our lease rows committed before our FOR UPDATE returned, so its verdict is seen
 * here; one that has not reached them yet waits for this commit, which then comes first.
 */
async function refuseIfReaped(client: pg.ClientBase, owner: string): Promise<void> {
  const { rows } = await client.query<{ state: string }>('SELECT state FROM processes WHERE id = $1', [owner]);
  const state = rows[0]?.state;
  if (state !== undefined && state !== 'up') throw new StaleBatchError(`this process (${owner}) is ${state} and its leases were freed: its batch is not committed`);
}

/** The distinct (entity, key) pairs, as two arrays: for `unnest`, or for `entity = ANY(..) AND key = ANY(..)`. */
function keyColumns(pairs: Iterable<{ entity: string; key: string }>): [string[], string[]] {
  const unique = new Map<string, { entity: string; key: string }>();
  for (const p of pairs) unique.set(recordId(p.entity, p.key), p);
  return [[...unique.values()].map((p) => p.entity), [...unique.values()].map((p) => p.key)];
}

/** An inbox row's columns, named: see the claim's reads. */
const INBOX_COLUMNS = ['seq', 'event_id', 'name', 'version', 'flow_id', 'entity', 'key', 'envelope', 'status', 'accepted_at', 'processed_at', 'result', 'error'].map((c) => `i.${c}`).join(', ');

/** Claims begin as the other hot paths do (index scans only), then queue for the claim lock: one round trip. */
const BEGIN_CLAIM = `${BEGIN_INDEX_SCANS}; SELECT pg_advisory_xact_lock(${LOCKS.class}, ${LOCKS.claims})`;

export class InboxClaims {
  readonly #pool: pg.Pool;
  readonly #options: { owner: string; claimLeaseMs: number };

  constructor(pool: pg.Pool, options: { owner: string; claimLeaseMs: number }) {
    this.#pool = pool;
    this.#options = options;
  }

  /**
   * Claims run one at a time across all processes (a transaction advisory lock held for a few
   * milliseconds), so each claimer sees the leases of the one before and takes the next keys
   * instead of racing for the same ones. The batch is, per key, every queued event up to the
   * last one that fit under `limit`: a prefix of the key's queue.
   *
   * With `afterSeq` (InboxStore.claimAhead) the heads are looked for past that seq, and keys this
   * owner holds are skipped too: they are the batch in hand, whose events are still queued.
   */
  async claimBatch(limit: number, afterSeq?: number): Promise<ClaimedBatch> {
    const { owner, claimLeaseMs } = this.#options;
    return transaction(this.#pool, async (client) => {
      // The heads of the queue and their leases in one statement: claims are serialized, so every
      // key found free is free; the lease's condition only guards that promise.
      const won = await client.query<{ entity: string; key: string; last: number }>(
        named('claim.heads', `WITH candidates AS (
           SELECT i.seq, i.entity, i.key FROM inbox i
           WHERE i.status = 'queued'
             AND NOT EXISTS (SELECT 1 FROM parked p WHERE p.entity = i.entity AND p.key = i.key)
             AND NOT EXISTS (SELECT 1 FROM inbox_leases l WHERE l.entity = i.entity AND l.key = i.key AND (l.owner <> $1 OR $5) AND l.lease_until > ${NOW_MS})
             AND i.seq > $4
           ORDER BY i.seq LIMIT $2),
         heads AS (SELECT entity, key, max(seq) AS last FROM candidates GROUP BY entity, key),
         leased AS (
           INSERT INTO inbox_leases (entity, key, owner, lease_until)
           SELECT entity, key, $1, ${NOW_MS} + $3 FROM heads ORDER BY entity, key
           ON CONFLICT (entity, key) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
             WHERE inbox_leases.owner = excluded.owner OR inbox_leases.lease_until <= ${NOW_MS}
           RETURNING entity, key)
         SELECT h.entity, h.key, h.last FROM heads h JOIN leased USING (entity, key) ORDER BY h.entity, h.key`),
        [owner, limit, claimLeaseMs, afterSeq ?? 0, afterSeq !== undefined],
      );
      if (won.rows.length === 0) return { events: [], records: new Map() };
      const ours = won.rows;
      // Read after the leases are ours: a previous holder's late commit either landed before
      // (and is seen here) or now fails its lease check.
      const events = await client.query<InboxRow>(
        named('claim.events', `SELECT ${INBOX_COLUMNS} FROM inbox i JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS w(entity, key, last) ON i.entity = w.entity AND i.key = w.key
         WHERE i.status = 'queued' AND i.seq <= w.last ORDER BY i.seq`),
        [ours.map((h) => h.entity), ours.map((h) => h.key), ours.map((h) => h.last)],
      );
      // Two ANY conditions, not a join with the pairs: they are index conditions on the primary key
      // whatever the statistics say, where the join was planned as a scan of every record while the
      // table was young (50-175 records read per event). With several entities the conditions
      // match a few pairs that were not asked for; only the claimed keys are looked up below.
      // Both reads name their columns: a prepared `SELECT *` goes stale when a newer process's
      // migration adds a column ("cached plan must not change result type").
      const found = await client.query<RecordRow>(
        named('claim.records', 'SELECT entity, key, version, parts, created_at, updated_at FROM records WHERE entity = ANY($1::text[]) AND key = ANY($2::text[])'),
        keyColumns(ours),
      );
      const byId = new Map(found.rows.map((r) => [recordId(r.entity, r.key), toRecord(r)]));
      const records = new Map<string, StoredRecord>();
      const rows = events.rows.map(toInboxEvent);
      for (const event of rows) {
        const id = recordId(event.entity, event.key);
        const record = byId.get(id);
        if (record && !records.has(id)) records.set(id, record);
      }
      return { events: rows, records };
    }, BEGIN_CLAIM);
  }

  async commitBatch(batch: BatchCommit): Promise<void> {
    const owner = this.#options.owner;
    const [entities, keys] = keyColumns([...batch.records.map((r) => r.record), ...batch.processed.map((p) => p.result), ...batch.parked]);
    await transaction(this.#pool, async (client) => {
      if (entities.length > 0) {
        // Locked in key order; a claimer taking over a key waits for this commit, and this commit
        // refuses to land on a key another worker took over after our lease ran out.
        const leases = await client.query<{ entity: string; key: string; owner: string }>(
          named('commit.leases', `SELECT l.entity, l.key, l.owner FROM inbox_leases l JOIN unnest($1::text[], $2::text[]) AS w(entity, key) ON l.entity = w.entity AND l.key = w.key
           ORDER BY l.entity, l.key FOR UPDATE OF l`),
          [entities, keys],
        );
        const lost = leases.rows.find((l) => l.owner !== owner);
        if (lost) throw new StaleBatchError(`key ${lost.entity}/${lost.key} was taken over by another worker after this one's lease ran out`);
        if (leases.rows.length < entities.length) await refuseIfReaped(client, owner);
      }
      const created = batch.records.filter((r) => r.expectedVersion === 0);
      const updated = batch.records.filter((r) => r.expectedVersion !== 0);
      // Sent at commit. The ingest process answering a `wait` for one of these events looks it up:
      // only awaited events are announced, since every listening process receives every
      // notification, and a queue of them that a stalled listener does not read would, once full,
      // fail commits.
      const awaited = [...batch.processed, ...batch.parked].filter((p) => p.awaited === true).map((p) => p.eventId);
      const notices = [...(wakesDispatchers(batch.deliveries) ? [[CHANNELS.deliveries, '']] : []), ...outcomePayloads(awaited).map((payload) => [CHANNELS.outcomes, payload])];
      const result = await client.query<{ created: Array<[string, string]>; updated: Array<[string, string]>; processed: number[] }>(named('commit.writes', COMMIT_WRITES), [
        recordRows(created),
        recordRows(updated),
        ...keyColumns(updated.map((u) => u.record)),
        JSON.stringify(batch.audit.map(auditRow)),
        JSON.stringify(batch.changes.map(changeRow)),
        newDeliveriesParam(batch.deliveries),
        JSON.stringify(batch.digestItems.map(digestRow)),
        JSON.stringify(batch.processed.map((x) => ({ seq: x.seq, at: x.at, result: JSON.stringify(x.result) }))),
        entities,
        keys,
        owner,
        notices.map((n) => n[0]),
        notices.map((n) => n[1]),
      ]);
      const written = result.rows[0]!;
      refuseMovedRecords(created, written.created);
      refuseMovedRecords(updated, written.updated);
      if (written.processed.length !== batch.processed.length) {
        const settled = new Set(written.processed.map(Number)); // bigint[] arrives as strings
        const missing = batch.processed.find((x) => !settled.has(x.seq)) ?? batch.processed[0]!;
        throw new StaleBatchError(`event ${missing.eventId} is no longer queued`);
      }
      if (batch.parked.length > 0) {
        const p = batch.parked;
        const rows = JSON.stringify(p.map((x) => ({ entity: x.entity, key: x.key, event_id: x.eventId, error: JSON.stringify(x.error), parked_at: x.parkedAt })));
        const marked = await client.query<{ event_id: string }>(
          `UPDATE inbox SET status = 'parked', error = u.error FROM ${PARKED_ROWS}
           WHERE inbox.event_id = u.event_id AND inbox.status = 'queued' RETURNING inbox.event_id`,
          [rows],
        );
        if (marked.rows.length !== p.length) {
          const settled = new Set(marked.rows.map((r) => r.event_id));
          throw new StaleBatchError(`event ${(p.find((x) => !settled.has(x.eventId)) ?? p[0]!).eventId} is no longer queued`);
        }
        await client.query(`INSERT INTO parked (entity, key, event_id, error, parked_at) SELECT entity, key, event_id, error, parked_at FROM ${PARKED_ROWS}`, [rows]);
      }
      if (batch.links && batch.links.length > 0) await insertLinks(client, batch.links);
    }, BEGIN_INDEX_SCANS);
  }
}

/**
 * Links identifier values to the batch's records. A value another worker linked to another record
 * meanwhile makes the batch stale: claimed again, it sees the holder. The check is a statement of
 * its own so that its snapshot sees a link the insert waited for.
 */
async function insertLinks(client: pg.ClientBase, links: NonNullable<BatchCommit['links']>): Promise<void> {
  const rows = JSON.stringify(links.map((l) => ({ entity: l.entity, identifier: l.identifier, value: l.value, key: l.key, event_id: l.eventId, linked_at: l.linkedAt })));
  await client.query(
    `INSERT INTO identifier_links (entity, identifier, value, key, event_id, linked_at)
     SELECT entity, identifier, value, key, event_id, linked_at FROM ${LINK_ROWS} ORDER BY n ON CONFLICT DO NOTHING`,
    [rows],
  );
  const taken = await client.query<{ identifier: string; value: string; entity: string; key: string }>(
    `SELECT l.identifier, l.value, l.entity, l.key FROM ${LINK_ROWS}
     JOIN identifier_links l ON l.entity = u.entity AND l.identifier = u.identifier AND l.value = u.value AND l.key <> u.key LIMIT 1`,
    [rows],
  );
  const link = taken.rows[0];
  if (link) throw new StaleBatchError(`${link.identifier} ${link.value} was linked to ${link.entity}/${link.key} meanwhile`);
}

/** Records as the commit's JSON rows, each with the version it was read at (0: new). */
function recordRows(list: BatchCommit['records']): string {
  return JSON.stringify(
    list.map(({ record: r, expectedVersion }) => ({
      entity: r.entity,
      key: r.key,
      version: r.version,
      parts: JSON.stringify(r.parts),
      created_at: r.createdAt,
      updated_at: r.updatedAt,
      expected: expectedVersion,
    })),
  );
}

/** Each record is guarded by the version it was read at: one not written moved meanwhile, and the batch is stale. */
function refuseMovedRecords(wanted: BatchCommit['records'], written: ReadonlyArray<[string, string]>): void {
  if (written.length === wanted.length) return;
  const done = new Set(written.map(([entity, key]) => recordId(entity, key)));
  const missing = wanted.find((w) => !done.has(recordId(w.record.entity, w.record.key))) ?? wanted[0]!;
  throw new StaleBatchError(`record ${missing.record.entity}/${missing.record.key} moved past version ${missing.expectedVersion}`);
}

const auditRow = (a: BatchCommit['audit'][number]) => ({
  entity: a.entity,
  key: a.key,
  version: a.version,
  part: a.part,
  field: a.field,
  old_value: encodeOptional(a.oldValue),
  new_value: encodeOptional(a.newValue),
  rule: a.rule,
  event_id: a.eventId,
  flow_id: a.flowId,
  at: a.at,
});

const changeRow = (c: BatchCommit['changes'][number]) => ({
  entity: c.entity,
  key: c.key,
  version: c.version,
  event_id: c.eventId,
  flow_id: c.flowId,
  rule: c.rule,
  changed_parts: JSON.stringify(c.changedParts),
  diffs: JSON.stringify(c.diffs),
  record: JSON.stringify(c.record),
  at: c.at,
});

const digestRow = (d: BatchCommit['digestItems'][number]) => ({
  integration: d.integration,
  window_start: d.windowStart,
  entity: d.entity,
  key: d.key,
  event_id: d.eventId,
  item: JSON.stringify(d.item),
  created_at: d.createdAt,
});

/**
 * NOTIFY payloads stop short of 8,000 bytes: the ids as JSON arrays of at most `maxBytes` each.
 * An id too long for any payload is left out (a `wait` for it answers at its timeout).
 */
export function outcomePayloads(eventIds: readonly string[], maxBytes = 7_000): string[] {
  const payloads: string[] = [];
  let chunk: string[] = [];
  let bytes = 2;
  for (const id of eventIds) {
    const size = Buffer.byteLength(JSON.stringify(id)) + 1;
    if (size + 2 > maxBytes) continue;
    if (chunk.length > 0 && bytes + size > maxBytes) {
      payloads.push(JSON.stringify(chunk));
      chunk = [];
      bytes = 2;
    }
    chunk.push(id);
    bytes += size;
  }
  if (chunk.length > 0) payloads.push(JSON.stringify(chunk));
  return payloads;
}
