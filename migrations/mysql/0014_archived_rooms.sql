-- Archived rooms: still readable by whoever could read them, but nothing can
-- be posted or changed in them, and they are left out of the room list.
-- Set and cleared by administrators in the backstage (audited).
ALTER TABLE rooms ADD COLUMN archived_at BIGINT NULL;
