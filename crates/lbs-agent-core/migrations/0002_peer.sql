-- The partner box, learned at pairing: who it is, where it answers, and the certificate it must
-- present (mutual TLS). One partner at most.
CREATE TABLE peer (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    server_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    address     TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    paired_unix INTEGER NOT NULL
) STRICT;
