"""The event log's tables, triggers and indexes (schema version 2).

Why each piece is there:
- `events.position` is the rowid, so appends go to the right edge of the table's
  B-tree and reading by position is a rowid range scan.
- The CHECK constraints and the `events_gap_free` trigger make the database itself
  refuse malformed rows and gaps, not only this module: positions run 1, 2, 3, ...
- `events_no_update` / `events_no_delete` make the log append-only at the database
  level: even a hand-typed `sqlite3` session cannot change history without first
  dropping the triggers (and then `verify` names the first changed position).
- `event_keys` is the idempotency index (see `events.log` for the measurements): a
  64-bit hash prefix of the id as an INTEGER PRIMARY KEY, with `id_collisions` holding
  the rare ids whose prefix was already taken by another id. Both keys are primary
  keys, so the database keeps them unique; the ids are compared in full on a hit.
- `events_stream` and `events_occurred` serve `read_stream` and `read_occurred`; SQLite
  appends the rowid to every index entry, so both also come ordered by position.
  `recorded_at` needs no index: it never decreases with position (the log enforces
  it), so `read_as_of` binary-searches positions instead.
- `quarantine` keeps poison messages with the reason; it is not part of the chain.
- `conflicts` keeps ids that came again with other content (the first content is the
  one stored): both payloads' sha256, when, and the content not stored. Once per id and
  content. Outside the chain, like the quarantine.
- `chain_versions` (schema 2) says from which position each hash-chain version is used
  (`events.chain`): v2 from the first row written by schema-2 code (1 in a new log, the
  next position when a schema-1 log is opened for writing), v1 before it. Rows already
  hashed are never rehashed: outside copies of their hashes stay valid.
"""

from __future__ import annotations

SCHEMA_VERSION = 2  # 2: conflicts and chain_versions (a schema-1 log gains them when a writer opens it)

DDL = """
CREATE TABLE IF NOT EXISTS events (
    position    INTEGER PRIMARY KEY CHECK (position > 0),
    id          TEXT NOT NULL CHECK (length(id) BETWEEN 1 AND 128),
    type        TEXT NOT NULL,
    occurred_at TEXT NOT NULL CHECK (length(occurred_at) = 27 AND substr(occurred_at, 27) = 'Z'),
    recorded_at TEXT NOT NULL CHECK (length(recorded_at) = 27 AND substr(recorded_at, 27) = 'Z'),
    source      TEXT NOT NULL,
    stream      TEXT NOT NULL,
    payload     BLOB NOT NULL,
    hash        BLOB NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX IF NOT EXISTS events_stream ON events (stream);
CREATE INDEX IF NOT EXISTS events_occurred ON events (occurred_at);

CREATE TRIGGER IF NOT EXISTS events_gap_free BEFORE INSERT ON events
WHEN NEW.position IS NOT (SELECT coalesce(max(position), 0) + 1 FROM events)
BEGIN SELECT RAISE(ABORT, 'events: positions must be gap-free (next = last + 1)'); END;
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events is append-only: DELETE refused'); END;

CREATE TABLE IF NOT EXISTS event_keys (
    key      INTEGER PRIMARY KEY,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS id_collisions (
    id       TEXT PRIMARY KEY,
    position INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS event_keys_no_update BEFORE UPDATE ON event_keys
BEGIN SELECT RAISE(ABORT, 'event_keys is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS event_keys_no_delete BEFORE DELETE ON event_keys
BEGIN SELECT RAISE(ABORT, 'event_keys is append-only: DELETE refused'); END;
CREATE TRIGGER IF NOT EXISTS id_collisions_no_update BEFORE UPDATE ON id_collisions
BEGIN SELECT RAISE(ABORT, 'id_collisions is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS id_collisions_no_delete BEFORE DELETE ON id_collisions
BEGIN SELECT RAISE(ABORT, 'id_collisions is append-only: DELETE refused'); END;

CREATE TABLE IF NOT EXISTS conflicts (
    id          TEXT NOT NULL,
    stored_hash TEXT NOT NULL,
    new_hash    TEXT NOT NULL,
    seen_at     TEXT NOT NULL,
    new_payload BLOB NOT NULL,
    PRIMARY KEY (id, new_hash)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS chain_versions (
    version       INTEGER PRIMARY KEY,
    from_position INTEGER NOT NULL CHECK (from_position > 0)
);
CREATE TRIGGER IF NOT EXISTS chain_versions_no_update BEFORE UPDATE ON chain_versions
BEGIN SELECT RAISE(ABORT, 'chain_versions is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS chain_versions_no_delete BEFORE DELETE ON chain_versions
BEGIN SELECT RAISE(ABORT, 'chain_versions is append-only: DELETE refused'); END;
INSERT OR IGNORE INTO chain_versions (version, from_position)
SELECT 2, coalesce(max(position), 0) + 1 FROM events;

CREATE TABLE IF NOT EXISTS quarantine (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    subject     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    raw         BLOB NOT NULL
);
"""
