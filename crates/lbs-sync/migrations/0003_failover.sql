-- Primary side: the highest journal sequence the partner has acknowledged as applied. Kept on
-- disk because it decides, after a failover, what this box wrote that the partner never got.
CREATE TABLE peer_ack (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    acked INTEGER NOT NULL
) STRICT;

-- Files set aside by a reintegration: written here while this box was a primary that had lost
-- its role, and different from the new primary's copy. Rows are never deleted; a restore is
-- recorded.
CREATE TABLE quarantine (
    id               INTEGER PRIMARY KEY,
    source           TEXT NOT NULL,
    path             TEXT NOT NULL,
    size             INTEGER NOT NULL,
    hash             BLOB,
    stored_at        TEXT NOT NULL,
    quarantined_unix INTEGER NOT NULL,
    lost_epoch       INTEGER NOT NULL,
    restored_unix    INTEGER
) STRICT;
