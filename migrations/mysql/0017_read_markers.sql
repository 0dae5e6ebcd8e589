-- Keeping up: where each person has read to, and who was mentioned where.
--
-- memberships.read_seq: the last sequence of the room's log this person has
--   seen. It only moves forward. Every room a person opens already has a
--   membership row (see app/src/backend/access.rs, `opened`), and those rows
--   are the rooms in their sidebar.
-- memberships.quiet: 1 when they muted the room's notifications.
-- Adding columns with defaults is instant on MariaDB 10.3+.
ALTER TABLE memberships
    ADD COLUMN read_seq BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN quiet BIGINT NOT NULL DEFAULT 0;

-- One row per person named by `@name` in a message, written in the same
-- transaction as the message (and rewritten by an edit, removed by a
-- deletion). Keyed by person first: a sidebar counts one person's mentions
-- after each of their read markers with one range read per room.
CREATE TABLE mentions (
    user_id    BIGINT NOT NULL,
    room_id    BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    message_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, seq),
    KEY mentions_message (message_id),
    CONSTRAINT mentions_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
