-- Offices: a pair of servers (a primary and its backup, in either role), named by the manager.
-- A pair may hold one server while its partner is still to be added.
CREATE TABLE pairs (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    created_unix INTEGER NOT NULL
);

CREATE TABLE pair_members (
    pair_id   TEXT NOT NULL REFERENCES pairs(id),
    server_id TEXT NOT NULL UNIQUE REFERENCES servers(id),
    PRIMARY KEY (pair_id, server_id)
);
