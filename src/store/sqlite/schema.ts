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
];
