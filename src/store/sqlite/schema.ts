// Versioned migrations of the SQLite schema. Each entry runs once, in order, in
// one transaction with the bump of `schema_migrations`.

export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'inbox, records, audit, changes, delivery jobs, parked keys',
    sql: `
      CREATE TABLE inbox (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id     TEXT    NOT NULL UNIQUE,
        name         TEXT    NOT NULL,
        version      INTEGER NOT NULL,
        flow_id      TEXT    NOT NULL,
        entity       TEXT    NOT NULL,
        key          TEXT    NOT NULL,
        envelope     TEXT    NOT NULL,
        status       TEXT    NOT NULL DEFAULT 'queued',
        accepted_at  INTEGER NOT NULL,
        processed_at INTEGER,
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
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (entity, key)
      ) WITHOUT ROWID;

      CREATE TABLE audit (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
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
        at        INTEGER NOT NULL
      );
      CREATE INDEX audit_by_key ON audit (entity, key, id);

      CREATE TABLE changes (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        entity        TEXT    NOT NULL,
        key           TEXT    NOT NULL,
        version       INTEGER NOT NULL,
        event_id      TEXT    NOT NULL,
        flow_id       TEXT    NOT NULL,
        rule          TEXT    NOT NULL,
        changed_parts TEXT    NOT NULL,
        diffs         TEXT    NOT NULL,
        record        TEXT    NOT NULL,
        at            INTEGER NOT NULL,
        UNIQUE (entity, key, version)
      );
      CREATE INDEX changes_by_event ON changes (event_id);

      CREATE TABLE delivery_jobs (
        delivery_id TEXT    PRIMARY KEY,
        integration TEXT    NOT NULL,
        entity      TEXT    NOT NULL,
        key         TEXT    NOT NULL,
        event_id    TEXT    NOT NULL,
        version     INTEGER,
        payload     TEXT    NOT NULL,
        status      TEXT    NOT NULL DEFAULT 'pending',
        created_at  INTEGER NOT NULL
      );
      CREATE INDEX delivery_jobs_by_event ON delivery_jobs (event_id);

      CREATE TABLE parked (
        entity    TEXT    NOT NULL,
        key       TEXT    NOT NULL,
        event_id  TEXT    NOT NULL,
        error     TEXT    NOT NULL,
        parked_at INTEGER NOT NULL,
        PRIMARY KEY (entity, key)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'deliveries with leases, attempt log, integration states, digest items',
    // delivery_jobs was written by no release (no integrations existed), so it is replaced outright.
    sql: `
      DROP TABLE delivery_jobs;

      CREATE TABLE deliveries (
        seq              INTEGER PRIMARY KEY AUTOINCREMENT,
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
        cycle_started_at INTEGER NOT NULL,
        next_attempt_at  INTEGER,
        trigger          TEXT    NOT NULL DEFAULT 'scheduled',
        lease_until      INTEGER,
        lease_owner      TEXT,
        last_error       TEXT,
        last_status      INTEGER,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL,
        completed_at     INTEGER
      );
      CREATE INDEX deliveries_due ON deliveries (integration, next_attempt_at, seq) WHERE status = 'pending';
      CREATE INDEX deliveries_pending_by_key ON deliveries (integration, key, seq) WHERE status = 'pending';
      CREATE INDEX deliveries_by_event ON deliveries (event_id);
      CREATE INDEX deliveries_by_integration ON deliveries (integration, created_at, seq);

      CREATE TABLE delivery_attempts (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id      TEXT    NOT NULL,
        attempt          INTEGER NOT NULL,
        trigger          TEXT    NOT NULL,
        started_at       INTEGER NOT NULL,
        duration_ms      INTEGER NOT NULL,
        method           TEXT    NOT NULL,
        url              TEXT    NOT NULL,
        request_headers  TEXT    NOT NULL,
        status           INTEGER,
        response         TEXT,
        error            TEXT,
        outcome          TEXT    NOT NULL,
        next_attempt_at  INTEGER
      );
      CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id, attempt);

      CREATE TABLE integrations (
        name                 TEXT    PRIMARY KEY,
        state                TEXT    NOT NULL,
        reason               TEXT,
        failing_since        INTEGER,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        updated_at           INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE digest_items (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        integration  TEXT    NOT NULL,
        window_start INTEGER NOT NULL,
        entity       TEXT    NOT NULL,
        key          TEXT    NOT NULL,
        event_id     TEXT    NOT NULL,
        item         TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        folded       INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX digest_items_open ON digest_items (integration, window_start) WHERE folded = 0;
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
        checkpoint_at        INTEGER,
        lease_owner          TEXT,
        lease_until          INTEGER,
        current_run          TEXT,
        next_run_at          INTEGER,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        last_run             TEXT,
        updated_at           INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE source_runs (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id      TEXT    NOT NULL UNIQUE,
        source      TEXT    NOT NULL,
        trigger     TEXT    NOT NULL,
        status      TEXT    NOT NULL,
        owner       TEXT    NOT NULL,
        started_at  INTEGER NOT NULL,
        finished_at INTEGER,
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
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        source  TEXT    NOT NULL,
        run_id  TEXT    NOT NULL,
        item_id TEXT,
        raw     TEXT    NOT NULL,
        reason  TEXT    NOT NULL,
        at      INTEGER NOT NULL
      );
      CREATE INDEX source_rejected_by_source ON source_rejected (source, id);
    `,
  },
  {
    version: 4,
    name: 'inbox: drop the by-key index (its only reader, the parked listing, counts through inbox_queued)',
    // The index took ~90% of the pages each accept commit wrote: a random-key
    // insert per event into a table-sized B-tree. Only listParked read it.
    sql: `
      DROP INDEX inbox_by_key;
    `,
  },
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
        created_at     INTEGER NOT NULL,
        last_used_at   INTEGER,
        revoked_at     INTEGER
      ) WITHOUT ROWID;
      CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;

      CREATE TABLE operator_actions (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        at      INTEGER NOT NULL,
        actor   TEXT    NOT NULL,
        action  TEXT    NOT NULL,
        target  TEXT    NOT NULL,
        outcome TEXT    NOT NULL,
        details TEXT
      );
    `,
  },
  {
    version: 6,
    name: 'deliveries: drop the lease columns (leases live in process memory)',
    // Written only as NULL since sqlite-deliveries.ts keeps its leases in memory; the
    // schema-parity test names what SQLite's schema leaves out of PostgreSQL's, and why.
    sql: `
      ALTER TABLE deliveries DROP COLUMN lease_until;
      ALTER TABLE deliveries DROP COLUMN lease_owner;
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
        started_at   INTEGER NOT NULL,
        last_beat_at INTEGER NOT NULL,
        ended_at     INTEGER,
        loops        TEXT    NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE monitors (
        name              TEXT    PRIMARY KEY,
        kind              TEXT    NOT NULL,
        state             TEXT    NOT NULL,
        since             INTEGER NOT NULL,
        observed          TEXT,
        observed_since    INTEGER,
        last_check_at     INTEGER,
        last_message      TEXT,
        last_details      TEXT,
        next_check_at     INTEGER,
        last_announced_at INTEGER,
        updated_at        INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE monitor_transitions (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        monitor    TEXT    NOT NULL,
        from_state TEXT    NOT NULL,
        to_state   TEXT    NOT NULL,
        at         INTEGER NOT NULL,
        message    TEXT,
        details    TEXT,
        announced  INTEGER NOT NULL
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
    version: 10,
    name: 'identifier_links: the identifier values (emails, account ids) that route to each record',
    sql: `
      CREATE TABLE identifier_links (
        entity     TEXT    NOT NULL,
        identifier TEXT    NOT NULL,
        value      TEXT    NOT NULL,
        key        TEXT    NOT NULL,
        event_id   TEXT    NOT NULL,
        linked_at  INTEGER NOT NULL,
        PRIMARY KEY (entity, identifier, value)
      ) WITHOUT ROWID;
      CREATE INDEX identifier_links_by_key ON identifier_links (entity, key);
    `,
  },
];
