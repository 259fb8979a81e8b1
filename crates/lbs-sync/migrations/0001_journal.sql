-- The primary's change journal: one row per file of each category, live or deleted. Every change
-- (new, modified, deleted) takes the next sequence number, so "what changed after cursor C" is a
-- range scan of the seq index.
CREATE TABLE files (
    category     TEXT NOT NULL,
    path         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    mode         INTEGER NOT NULL,
    uid          INTEGER NOT NULL,
    gid          INTEGER NOT NULL,
    hash         BLOB,
    deleted      INTEGER NOT NULL DEFAULT 0,
    seq          INTEGER NOT NULL,
    changed_unix INTEGER NOT NULL,
    PRIMARY KEY (category, path)
) STRICT, WITHOUT ROWID;

CREATE UNIQUE INDEX files_seq ON files (seq);
