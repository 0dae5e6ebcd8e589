-- Room standing; see migrations/mysql/0016_room_standing.sql.
ALTER TABLE memberships ADD COLUMN role TEXT NOT NULL DEFAULT 'member';
ALTER TABLE memberships ADD COLUMN banned_at INTEGER NULL;
ALTER TABLE memberships ADD COLUMN muted_until INTEGER NULL;
