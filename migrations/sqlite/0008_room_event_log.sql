-- One log per room; see migrations/mysql/0008_room_event_log.sql.
ALTER TABLE messages RENAME TO room_events;
ALTER TABLE room_events ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
