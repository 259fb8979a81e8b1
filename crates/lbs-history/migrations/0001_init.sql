-- Resource history schema, version 1.
-- Times are unix seconds. Roll-up rows are keyed by the start of their minute / hour.

CREATE TABLE series (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    unit  TEXT NOT NULL,
    kind  TEXT NOT NULL
) STRICT;

CREATE TABLE samples_raw (
    series_id INTEGER NOT NULL,
    t         INTEGER NOT NULL,
    value     REAL NOT NULL,
    PRIMARY KEY (series_id, t)
) STRICT, WITHOUT ROWID;

CREATE TABLE rollup_minute (
    series_id INTEGER NOT NULL,
    t         INTEGER NOT NULL,
    min       REAL NOT NULL,
    avg       REAL NOT NULL,
    max       REAL NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (series_id, t)
) STRICT, WITHOUT ROWID;

CREATE TABLE rollup_hour (
    series_id INTEGER NOT NULL,
    t         INTEGER NOT NULL,
    min       REAL NOT NULL,
    avg       REAL NOT NULL,
    max       REAL NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (series_id, t)
) STRICT, WITHOUT ROWID;

-- Range queries use the (series_id, t) primary keys; these serve the all-series time windows of
-- roll-ups and retention deletes.
CREATE INDEX samples_raw_t ON samples_raw (t);
CREATE INDEX rollup_minute_t ON rollup_minute (t);
CREATE INDEX rollup_hour_t ON rollup_hour (t);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value ANY
) STRICT;

-- Bucket numbers 0..9999 (one per possible query point). Range queries loop over these and seek
-- each bucket's time range in a primary key, so rows come out grouped and need no sorting.
CREATE TABLE bucket_index (i INTEGER PRIMARY KEY);
WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i < 9999)
INSERT INTO bucket_index (i) SELECT i FROM b;
