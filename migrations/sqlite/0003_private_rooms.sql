-- Private rooms; see migrations/mysql/0003_private_rooms.sql.
ALTER TABLE rooms ADD COLUMN is_private INTEGER NOT NULL DEFAULT 0;

CREATE TABLE memberships (
    room_id  INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);
