-- Read markers and mentions; see migrations/mysql/0017_read_markers.sql.
ALTER TABLE memberships ADD COLUMN read_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN quiet INTEGER NOT NULL DEFAULT 0;

CREATE TABLE mentions (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id    INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id, seq)
);
CREATE INDEX mentions_message ON mentions (message_id);
