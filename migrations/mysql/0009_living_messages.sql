-- Messages that change: edits, deletions, reactions and replies are events
-- in the room's log (kinds 1-4; see app/src/backend/events.rs). A message's
-- own row (kind 0) always holds its current state, so a history page reads
-- one row per message; each change is also an event row of its own, under
-- the room's next sequence, which catch-up replays.
--
-- target_id: the message an event acts on (edit, delete, reaction), or, on a
--            posted message, the message it replies to.
-- edited_at: on a message, when it was last edited.
-- deleted_at: on a message, when it was deleted (its body is then empty).
-- Adding nullable columns is instant on MariaDB 10.3+ (no table rebuild).
ALTER TABLE room_events
    ADD COLUMN target_id BIGINT NULL,
    ADD COLUMN edited_at BIGINT NULL,
    ADD COLUMN deleted_at BIGINT NULL;

-- The bodies a message had before each edit, kept for moderation and never
-- shown to members; removed with the message when it is deleted.
CREATE TABLE message_versions (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    message_id  BIGINT NOT NULL,
    body        TEXT   NOT NULL,
    replaced_at BIGINT NOT NULL,
    KEY message_versions_message (message_id),
    CONSTRAINT message_versions_message_fk FOREIGN KEY (message_id) REFERENCES room_events (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Who reacted with what, now: one row per (message, emoji, person). `seq` is
-- the reaction's event, so chips keep the order in which emoji first came.
CREATE TABLE message_reactions (
    message_id BIGINT      NOT NULL,
    emoji      VARCHAR(32) NOT NULL,
    user_id    BIGINT      NOT NULL,
    seq        BIGINT      NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id),
    CONSTRAINT message_reactions_message_fk FOREIGN KEY (message_id) REFERENCES room_events (id),
    CONSTRAINT message_reactions_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
