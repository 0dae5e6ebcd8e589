-- One log per room. Every change members must all see is an event under the
-- room's gap-free sequence (rooms.last_seq), in this one table, so catch-up,
-- the delivery ledger and the repair loop cover every kind alike. `kind`
-- says what happened (0: a message was posted; the codes are
-- app/src/backend/events.rs's EventKind). A posted message's event row also
-- holds the message itself, so posting stays one insert; later kinds (edits,
-- deletions, reactions) are events of their own that point at it.
--
-- Today's messages become kind-0 events, keeping their ids and sequences.
-- Renaming is instant and adding a column with a default is instant on
-- MariaDB 10.3+ (no table rebuild).
RENAME TABLE messages TO room_events;
ALTER TABLE room_events ADD COLUMN kind SMALLINT NOT NULL DEFAULT 0 AFTER seq;
