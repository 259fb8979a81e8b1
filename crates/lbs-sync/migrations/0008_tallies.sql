-- What each source holds (the primary's journal) and what the backup holds, kept as the rows
-- change: every answer to a pull carries them, and counting 200,000 rows there made a new
-- voicemail's trip grow with the tree. The journal and the queue write with upserts, so these
-- triggers see every change (a REPLACE would delete without firing them).

CREATE TABLE files_tally (
    category TEXT PRIMARY KEY,
    files    INTEGER NOT NULL,
    bytes    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO files_tally (category, files, bytes)
    SELECT category, count(*), coalesce(sum(size), 0) FROM files
    WHERE deleted = 0 AND folder = 0 GROUP BY category;

CREATE TRIGGER files_tally_insert AFTER INSERT ON files WHEN NEW.deleted = 0 AND NEW.folder = 0
BEGIN
    INSERT INTO files_tally (category, files, bytes) VALUES (NEW.category, 1, NEW.size)
        ON CONFLICT (category) DO UPDATE SET files = files + 1, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER files_tally_delete AFTER DELETE ON files WHEN OLD.deleted = 0 AND OLD.folder = 0
BEGIN
    UPDATE files_tally SET files = files - 1, bytes = bytes - OLD.size WHERE category = OLD.category;
END;

CREATE TRIGGER files_tally_update AFTER UPDATE ON files
BEGIN
    UPDATE files_tally SET files = files - 1, bytes = bytes - OLD.size
        WHERE category = OLD.category AND OLD.deleted = 0 AND OLD.folder = 0;
    INSERT INTO files_tally (category, files, bytes)
        SELECT NEW.category, 1, NEW.size WHERE NEW.deleted = 0 AND NEW.folder = 0
        ON CONFLICT (category) DO UPDATE SET files = files + 1, bytes = bytes + excluded.bytes;
END;

CREATE TABLE held_tally (
    category TEXT PRIMARY KEY,
    files    INTEGER NOT NULL,
    bytes    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO held_tally (category, files, bytes)
    SELECT category, count(*), coalesce(sum(size), 0) FROM held GROUP BY category;

CREATE TRIGGER held_tally_insert AFTER INSERT ON held
BEGIN
    INSERT INTO held_tally (category, files, bytes) VALUES (NEW.category, 1, NEW.size)
        ON CONFLICT (category) DO UPDATE SET files = files + 1, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER held_tally_delete AFTER DELETE ON held
BEGIN
    UPDATE held_tally SET files = files - 1, bytes = bytes - OLD.size WHERE category = OLD.category;
END;

-- The queue's upsert changes a held file's size and hash, never its category or path.
CREATE TRIGGER held_tally_update AFTER UPDATE OF size ON held
BEGIN
    UPDATE held_tally SET bytes = bytes - OLD.size + NEW.size WHERE category = NEW.category;
END;
