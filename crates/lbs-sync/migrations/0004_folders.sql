-- Folders are mirrored too (an empty mailbox folder reaches the backup; a folder gone on the
-- primary goes on the backup once empty): a journal row, and a pending change, can be a folder,
-- which has no content and no hash.
ALTER TABLE files ADD COLUMN folder INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pending ADD COLUMN folder INTEGER NOT NULL DEFAULT 0;
