-- Direct-message rooms; see migrations/mysql/0005_direct_rooms.sql.
ALTER TABLE rooms ADD COLUMN is_direct INTEGER NOT NULL DEFAULT 0;
