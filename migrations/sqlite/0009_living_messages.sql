-- Messages that change; see migrations/mysql/0009_living_messages.sql.
ALTER TABLE room_events ADD COLUMN target_id INTEGER NULL;
ALTER TABLE room_events ADD COLUMN edited_at INTEGER NULL;
ALTER TABLE room_events ADD COLUMN deleted_at INTEGER NULL;

CREATE TABLE message_versions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  INTEGER NOT NULL REFERENCES room_events (id),
    body        TEXT    NOT NULL,
    replaced_at INTEGER NOT NULL
);
CREATE INDEX message_versions_message ON message_versions (message_id);

CREATE TABLE message_reactions (
    message_id INTEGER NOT NULL REFERENCES room_events (id),
    emoji      TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    seq        INTEGER NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
);
