// Versioned migrations of the PostgreSQL schema, and the step that applies
// them. The versions mean what SQLite's mean (1: inbox and records, 2:
// deliveries, 3: sources, 5: keys and operator actions, 7: processes and
// monitors, 8: dead letters by integration; 4 and 6 are SQLite's alone, 9
// PostgreSQL's), so "schema version 3" names one shape
// on either driver. JSON travels in TEXT columns, as on SQLite: JSONB would
// reorder keys and refuses the \u0000 escape, and the contract holds values
// lossless.
import type pg from 'pg';
import { ConfluoError } from '../../errors/index.js';
import { LOCKS } from './connection.js';

export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'inbox, records, audit, changes, parked keys, claim leases',
    sql: `
      CREATE TABLE inbox (
        seq          BIGSERIAL PRIMARY KEY,
        event_id     TEXT    NOT NULL UNIQUE,
        name         TEXT    NOT NULL,
        version      INTEGER NOT NULL,
        flow_id      TEXT    NOT NULL,
        entity       TEXT    NOT NULL,
        key          TEXT    NOT NULL,
        envelope     TEXT    NOT NULL,
        status       TEXT    NOT NULL DEFAULT 'queued',
        accepted_at  BIGINT  NOT NULL,
        processed_at BIGINT,
        result       TEXT,
        error        TEXT
      );
      CREATE INDEX inbox_queued ON inbox (seq) WHERE status = 'queued';
      CREATE INDEX inbox_by_key ON inbox (entity, key, seq);

      CREATE TABLE records (
        entity     TEXT    NOT NULL,
        key        TEXT    NOT NULL,
        version    INTEGER NOT NULL,
        parts      TEXT    NOT NULL,
        created_at BIGINT  NOT NULL,
        updated_at BIGINT  NOT NULL,
        PRIMARY KEY (entity, key)
      );

      CREATE TABLE audit (
        id        BIGSERIAL PRIMARY KEY,
        entity    TEXT    NOT NULL,
        key       TEXT    NOT NULL,
        version   INTEGER NOT NULL,
        part      TEXT    NOT NULL,
        field     TEXT    NOT NULL,
        old_value TEXT,
        new_value TEXT,
        rule      TEXT    NOT NULL,
        event_id  TEXT    NOT NULL,
        flow_id   TEXT    NOT NULL,
        at        BIGINT  NOT NULL
      );
      CREATE INDEX audit_by_key ON audit (entity, key, id);

      CREATE TABLE changes (
        id            BIGSERIAL PRIMARY KEY,
        entity        TEXT    NOT NULL,
        key           TEXT    NOT NULL,
        version       INTEGER NOT NULL,
        event_id      TEXT    NOT NULL,
        flow_id       TEXT    NOT NULL,
        rule          TEXT    NOT NULL,
        changed_parts TEXT    NOT NULL,
        diffs         TEXT    NOT NULL,
        record        TEXT    NOT NULL,
        at            BIGINT  NOT NULL,
        UNIQUE (entity, key, version)
      );
      CREATE INDEX changes_by_event ON changes (event_id);

      CREATE TABLE parked (
        entity    TEXT    NOT NULL,
        key       TEXT    NOT NULL,
        event_id  TEXT    NOT NULL,
        error     TEXT    NOT NULL,
        parked_at BIGINT  NOT NULL,
        PRIMARY KEY (entity, key)
      );

      -- The keys a processor has claimed: no other owner claims them until lease_until
      -- (database clock, epoch ms) has passed. Committing a batch deletes its rows.
      CREATE TABLE inbox_leases (
        entity      TEXT   NOT NULL,
        key         TEXT   NOT NULL,
        owner       TEXT   NOT NULL,
        lease_until BIGINT NOT NULL,
        PRIMARY KEY (entity, key)
      );
    `,
  },
  {
    version: 2,
    name: 'deliveries with leases, attempt log, integration states, digest items',
    sql: `
      CREATE TABLE deliveries (
        seq              BIGSERIAL PRIMARY KEY,
        delivery_id      TEXT    NOT NULL UNIQUE,
        integration      TEXT    NOT NULL,
        kind             TEXT    NOT NULL,
        entity           TEXT    NOT NULL,
        key              TEXT    NOT NULL,
        event_id         TEXT    NOT NULL,
        version          INTEGER,
        request          TEXT,
        status           TEXT    NOT NULL,
        attempts         INTEGER NOT NULL DEFAULT 0,
        total_attempts   INTEGER NOT NULL DEFAULT 0,
        cycle_started_at BIGINT  NOT NULL,
        next_attempt_at  BIGINT,
        trigger          TEXT    NOT NULL DEFAULT 'scheduled',
        lease_until      BIGINT,
        lease_owner      TEXT,
        last_error       TEXT,
        last_status      INTEGER,
        created_at       BIGINT  NOT NULL,
        updated_at       BIGINT  NOT NULL,
        completed_at     BIGINT
      );
      CREATE INDEX deliveries_due ON deliveries (integration, next_attempt_at, seq) WHERE status = 'pending';
      CREATE INDEX deliveries_pending_by_key ON deliveries (integration, key, seq) WHERE status = 'pending';
      CREATE INDEX deliveries_by_event ON deliveries (event_id);
      CREATE INDEX deliveries_by_integration ON deliveries (integration, created_at, seq);

      CREATE TABLE delivery_attempts (
        id               BIGSERIAL PRIMARY KEY,
        delivery_id      TEXT    NOT NULL,
        attempt          INTEGER NOT NULL,
        trigger          TEXT    NOT NULL,
        started_at       BIGINT  NOT NULL,
        duration_ms      INTEGER NOT NULL,
        method           TEXT    NOT NULL,
        url              TEXT    NOT NULL,
        request_headers  TEXT    NOT NULL,
        status           INTEGER,
        response         TEXT,
        error            TEXT,
        outcome          TEXT    NOT NULL,
        next_attempt_at  BIGINT
      );
      CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id, attempt);

      CREATE TABLE integrations (
        name                 TEXT    PRIMARY KEY,
        state                TEXT    NOT NULL,
        reason               TEXT,
        failing_since        BIGINT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        updated_at           BIGINT  NOT NULL
      );

      CREATE TABLE digest_items (
        id           BIGSERIAL PRIMARY KEY,
        integration  TEXT    NOT NULL,
        window_start BIGINT  NOT NULL,
        entity       TEXT    NOT NULL,
        key          TEXT    NOT NULL,
        event_id     TEXT    NOT NULL,
        item         TEXT    NOT NULL,
        created_at   BIGINT  NOT NULL,
        folded       BOOLEAN NOT NULL DEFAULT false
      );
      CREATE INDEX digest_items_open ON digest_items (integration, window_start) WHERE NOT folded;
    `,
  },
  {
    version: 3,
    name: 'sources: checkpoints and leases, runs, rejected items',
    sql: `
      CREATE TABLE sources (
        name                 TEXT    PRIMARY KEY,
        kind                 TEXT    NOT NULL,
        schedule             TEXT    NOT NULL,
        checkpoint           TEXT,
        checkpoint_at        BIGINT,
        lease_owner          TEXT,
        lease_until          BIGINT,
        current_run          TEXT,
        next_run_at          BIGINT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        last_run             TEXT,
        updated_at           BIGINT  NOT NULL
      );

      CREATE TABLE source_runs (
        seq         BIGSERIAL PRIMARY KEY,
        run_id      TEXT    NOT NULL UNIQUE,
        source      TEXT    NOT NULL,
        trigger     TEXT    NOT NULL,
        status      TEXT    NOT NULL,
        owner       TEXT    NOT NULL,
        started_at  BIGINT  NOT NULL,
        finished_at BIGINT,
        pages       INTEGER NOT NULL DEFAULT 0,
        items       INTEGER NOT NULL DEFAULT 0,
        accepted    INTEGER NOT NULL DEFAULT 0,
        duplicates  INTEGER NOT NULL DEFAULT 0,
        rejected    INTEGER NOT NULL DEFAULT 0,
        skipped     INTEGER NOT NULL DEFAULT 0,
        error       TEXT
      );
      CREATE INDEX source_runs_by_source ON source_runs (source, seq);

      CREATE TABLE source_rejected (
        id      BIGSERIAL PRIMARY KEY,
        source  TEXT    NOT NULL,
        run_id  TEXT    NOT NULL,
        item_id TEXT,
        raw     TEXT    NOT NULL,
        reason  TEXT    NOT NULL,
        at      BIGINT  NOT NULL
      );
      CREATE INDEX source_rejected_by_source ON source_rejected (source, id);
    `,
  },
  // SQLite's version 4 drops an index PostgreSQL keeps, and its version 6 lease columns PostgreSQL
  // uses: PostgreSQL has no version 4 or 6.
  {
    version: 5,
    name: 'api keys (hashed, scoped) and operator actions',
    // One active key per name; a revoked key's row stays, so past actions still name it.
    sql: `
      CREATE TABLE api_keys (
        id             TEXT    PRIMARY KEY,
        name           TEXT    NOT NULL,
        hash           TEXT    NOT NULL UNIQUE,
        scopes         TEXT    NOT NULL,
        events         TEXT,
        signing_secret TEXT,
        created_at     BIGINT  NOT NULL,
        last_used_at   BIGINT,
        revoked_at     BIGINT
      );
      CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;

      CREATE TABLE operator_actions (
        id      BIGSERIAL PRIMARY KEY,
        at      BIGINT  NOT NULL,
        actor   TEXT    NOT NULL,
        action  TEXT    NOT NULL,
        target  TEXT    NOT NULL,
        outcome TEXT    NOT NULL,
        details TEXT
      );
    `,
  },
  {
    version: 7,
    name: 'processes and their beats, monitors, monitor transitions',
    // roles, loops and details are JSON text. A process's id is the owner of every lease it takes.
    sql: `
      CREATE TABLE processes (
        id           TEXT    PRIMARY KEY,
        host         TEXT    NOT NULL,
        pid          INTEGER NOT NULL,
        roles        TEXT    NOT NULL,
        version      TEXT    NOT NULL,
        state        TEXT    NOT NULL,
        started_at   BIGINT  NOT NULL,
        last_beat_at BIGINT  NOT NULL,
        ended_at     BIGINT,
        loops        TEXT    NOT NULL
      );

      CREATE TABLE monitors (
        name              TEXT    PRIMARY KEY,
        kind              TEXT    NOT NULL,
        state             TEXT    NOT NULL,
        since             BIGINT  NOT NULL,
        observed          TEXT,
        observed_since    BIGINT,
        last_check_at     BIGINT,
        last_message      TEXT,
        last_details      TEXT,
        next_check_at     BIGINT,
        last_announced_at BIGINT,
        updated_at        BIGINT  NOT NULL
      );

      CREATE TABLE monitor_transitions (
        id         BIGSERIAL PRIMARY KEY,
        monitor    TEXT    NOT NULL,
        from_state TEXT    NOT NULL,
        to_state   TEXT    NOT NULL,
        at         BIGINT  NOT NULL,
        message    TEXT,
        details    TEXT,
        announced  BOOLEAN NOT NULL
      );
      CREATE INDEX monitor_transitions_by_monitor ON monitor_transitions (monitor, id);
    `,
  },
  {
    version: 8,
    name: 'deliveries: an index of dead letters by integration (metrics count them at every scrape)',
    sql: `
      CREATE INDEX deliveries_dead ON deliveries (integration) WHERE status = 'dead';
    `,
  },
  {
    version: 9,
    name: 'inbox: an index by flow id (a flow trace reads a flow\'s events)',
    // PostgreSQL's alone, as 4 and 6 are SQLite's. Flow ids are random (one per API event by
    // default), so each accept writes the index at random pages: raw accepts of 100-event batches
    // into an empty store ran 11.2k/s with it and 13.7k/s without (200k events, same run). SQLite
    // paid 2.3x (6.7k/s vs 15.8k/s, 400k events) and scans instead: 90 ms at 400k events.
    sql: `
      CREATE INDEX inbox_by_flow ON inbox (flow_id, seq);
    `,
  },
  {
    version: 10,
    name: 'identifier_links: the identifier values (emails, account ids) that route to each record',
    sql: `
      CREATE TABLE identifier_links (
        entity     TEXT    NOT NULL,
        identifier TEXT    NOT NULL,
        value      TEXT    NOT NULL,
        key        TEXT    NOT NULL,
        event_id   TEXT    NOT NULL,
        linked_at  BIGINT  NOT NULL,
        PRIMARY KEY (entity, identifier, value)
      );
      CREATE INDEX identifier_links_by_key ON identifier_links (entity, key);
    `,
  },
];

/** The database was migrated by a newer Confluo; this one would misread it. */
export class SchemaTooNewError extends ConfluoError {
  constructor(current: number, known: number) {
    super('SCHEMA_TOO_NEW', `database schema is version ${current} but this Confluo knows only up to ${known}: upgrade Confluo`, {
      details: { current, known },
    });
  }
}

/**
 * Brings the schema up to the newest version, each migration in its own transaction with its
 * `schema_migrations` row. A session advisory lock makes processes that start together take
 * turns: the first migrates, the others then find nothing left to do. A process that dies
 * holding the lock loses it with its connection.
 */
export async function migrate(client: pg.ClientBase): Promise<{ from: number; to: number }> {
  await client.query('SELECT pg_advisory_lock($1, $2)', [LOCKS.class, LOCKS.migrations]);
  try {
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
    const current = rows[0]?.v ?? 0;
    const known = MIGRATIONS.at(-1)?.version ?? 0;
    if (current > known) throw new SchemaTooNewError(current, known);
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, Date.now()]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`PostgreSQL migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`, { cause: error });
      }
    }
    return { from: current, to: Math.max(current, known) };
  } finally {
    // A connection that broke has lost the lock with it; the error worth reporting is the first one.
    await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCKS.class, LOCKS.migrations]).catch(() => undefined);
  }
}
