-- Archived rooms; see migrations/mysql/0014_archived_rooms.sql.
ALTER TABLE rooms ADD COLUMN archived_at INTEGER NULL;
