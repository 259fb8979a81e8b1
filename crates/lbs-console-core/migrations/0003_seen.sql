-- When each server last answered the console and in which role, so "Primary PBX A unreachable
-- since 10:42" survives a console restart.
ALTER TABLE servers ADD COLUMN last_seen_unix INTEGER;
ALTER TABLE servers ADD COLUMN last_role TEXT;
