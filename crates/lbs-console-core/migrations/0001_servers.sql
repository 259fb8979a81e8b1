-- Servers the console watches. Tokens are not here: they live in the OS keyring under the id.
CREATE TABLE servers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    address     TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    server_id   TEXT NOT NULL UNIQUE,
    added_unix  INTEGER NOT NULL
);
