-- Backup side: the bytes of the office's fresh changes announced by the primary, per clock hour
-- (for "can the link carry the busiest hour"). Exact sums, kept across restarts; a week and a day.
CREATE TABLE incoming_hourly (
    hour_unix INTEGER PRIMARY KEY,
    bytes     INTEGER NOT NULL
) STRICT;
