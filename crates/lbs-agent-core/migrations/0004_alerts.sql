-- The agent's own alerts (crate::alerts).
--
-- The outbox: one row per alert per channel, written in the same transaction as the incident
-- change that caused it, so a crash never loses an alert nor sends one twice for one change.
-- A row is marked delivered only after the mail server or webhook accepted it; `message_id` is
-- stable across retries, so a resend after a crash between "accepted" and "marked" is
-- recognisable. Delivered rows are pruned after 30 days.
CREATE TABLE alert_outbox (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    channel           TEXT NOT NULL,
    message_id        TEXT NOT NULL UNIQUE,
    incident          TEXT NOT NULL,
    state             TEXT NOT NULL,
    alert             TEXT NOT NULL,
    created_unix      INTEGER NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_unix INTEGER NOT NULL,
    last_error        TEXT,
    delivered_unix    INTEGER,
    answer            TEXT
) STRICT;

CREATE INDEX alert_outbox_due ON alert_outbox (delivered_unix, next_attempt_unix);

-- The problems open now, so a restart neither sends them again nor forgets to say they ended.
CREATE TABLE alert_incidents (
    condition      TEXT PRIMARY KEY,
    since_unix     INTEGER NOT NULL,
    notified       INTEGER NOT NULL,
    last_sent_unix INTEGER,
    title          TEXT NOT NULL
) STRICT;

-- The last audit-log entry the alerts have looked at (role changes are sent from the log).
CREATE TABLE alert_cursor (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    last_event INTEGER NOT NULL
) STRICT;
