-- Machines taken out of an office one at a time (a box replaced by a new one). The console keeps
-- their history copy, so the office still shows what they did; removing the office forgets them.
CREATE TABLE former_machines (
    server_id    TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    pair_id      TEXT NOT NULL REFERENCES pairs(id),
    removed_unix INTEGER NOT NULL
);
