-- The deleted files' rows, by when they were deleted: the pruning looks for old ones every minute
-- and must not read the whole journal to find them.
CREATE INDEX files_tombstones ON files (changed_unix) WHERE deleted = 1;
