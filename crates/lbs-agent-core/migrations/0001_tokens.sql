-- Access tokens. Only a SHA-256 of each secret is stored; the secret is shown once at creation.
CREATE TABLE tokens (
    id             TEXT PRIMARY KEY,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    label          TEXT NOT NULL,
    hash           TEXT NOT NULL UNIQUE,
    created_unix   INTEGER NOT NULL,
    last_used_unix INTEGER,
    revoked_unix   INTEGER
);
