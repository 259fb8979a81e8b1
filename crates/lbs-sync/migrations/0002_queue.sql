-- One sync.db per box holds both sides, because either box can hold either role.

-- Primary side: the journal's identity. A backup that finds a different one (another primary,
-- or a journal started afresh) starts over from sequence 0 instead of trusting its cursor.
CREATE TABLE journal_meta (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    journal_id TEXT NOT NULL
) STRICT;

-- Backup side: how far it has fetched from which journal.
CREATE TABLE queue_cursor (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    journal_id TEXT NOT NULL,
    fetched    INTEGER NOT NULL
) STRICT;

-- Backup side: changes fetched but not yet applied. A newer change to the same path replaces an
-- older one; workers take them by (priority, seq), so a voicemail never waits behind a recording.
CREATE TABLE pending (
    category     TEXT NOT NULL,
    path         TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    priority     INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    mode         INTEGER NOT NULL,
    uid          INTEGER NOT NULL,
    gid          INTEGER NOT NULL,
    hash         BLOB,
    deleted      INTEGER NOT NULL,
    changed_unix INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    not_before   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (category, path)
) STRICT, WITHOUT ROWID;

CREATE INDEX pending_order ON pending (priority, seq);

-- Backup side: what it holds, verified, per category (files and bytes for the status).
CREATE TABLE held (
    category TEXT NOT NULL,
    path     TEXT NOT NULL,
    size     INTEGER NOT NULL,
    hash     BLOB NOT NULL,
    PRIMARY KEY (category, path)
) STRICT, WITHOUT ROWID;
