-- Private rooms: visible, readable and writable only by their members.
-- The creator (created_by) owns the room and manages its members.
ALTER TABLE rooms ADD COLUMN is_private BIGINT NOT NULL DEFAULT 0;

CREATE TABLE memberships (
    room_id  BIGINT NOT NULL,
    user_id  BIGINT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id),
    KEY memberships_user (user_id),
    CONSTRAINT memberships_room_fk FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
    CONSTRAINT memberships_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
