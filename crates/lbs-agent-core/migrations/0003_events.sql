-- The audit log: every role change, refusal and violation, and who asked for it. Never pruned by
-- the agent (a few rows a month).
CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at_unix INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    role    TEXT NOT NULL,
    epoch   INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    reason  TEXT,
    message TEXT NOT NULL
) STRICT;

CREATE INDEX events_time ON events (at_unix);
