-- Primary side: deleted files' rows (tombstones) leave the journal once older than the trash's
-- retention; `through` is the highest sequence of a pruned tombstone. A backup whose cursor is
-- below it may have missed a deletion and copies everything again, reconciling (see below).
CREATE TABLE journal_pruned (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    through INTEGER NOT NULL
) STRICT;

-- Backup side: while `reconcile` is set, the backup is copying a journal from the start whose
-- old tombstones are gone: every live path it is sent is noted in `resync_seen`, and once it
-- reaches the head, what it holds that was not sent is deleted (to its trash) as the primary did.
ALTER TABLE queue_cursor ADD COLUMN reconcile INTEGER NOT NULL DEFAULT 0;
CREATE TABLE resync_seen (
    category TEXT NOT NULL,
    path     TEXT NOT NULL,
    PRIMARY KEY (category, path)
) STRICT, WITHOUT ROWID;
