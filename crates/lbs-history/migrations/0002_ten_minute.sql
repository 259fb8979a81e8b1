-- Ten-minute roll-ups (version 2): between the minute and the hour tables, so that no range
-- query reads more than about ten thousand rows of one series for a thousand points (a 30-day
-- graph reads 4,320 ten-minute rows instead of 43,200 minute rows). Filled from the minute table
-- by the next roll-up; kept as long as the minute roll-ups.
CREATE TABLE rollup_ten_minute (
    series_id INTEGER NOT NULL,
    t         INTEGER NOT NULL,
    min       REAL NOT NULL,
    avg       REAL NOT NULL,
    max       REAL NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (series_id, t)
) STRICT, WITHOUT ROWID;

CREATE INDEX rollup_ten_minute_t ON rollup_ten_minute (t);

-- Hours are now rolled up from ten-minute rows: start them where the hour table ends.
INSERT OR REPLACE INTO meta (key, value)
    SELECT 'rollup_ten_minute_watermark', value FROM meta WHERE key = 'rollup_hour_watermark';
