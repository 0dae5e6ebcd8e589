-- Natter core schema (MySQL / MariaDB). utf8mb4 with a binary collation so that
-- every string round-trips byte-exact; case-insensitive uniqueness uses the
-- explicit *_key columns, lower-cased by the application.
-- Times are epoch milliseconds (BIGINT): portable across MySQL and SQLite.

CREATE TABLE users (
    id            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username      VARCHAR(32)  NOT NULL,
    username_key  VARCHAR(32)  NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_at    BIGINT       NOT NULL,
    UNIQUE KEY users_username_key (username_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Server-side sessions: only the SHA-256 of the cookie token is stored.
CREATE TABLE sessions (
    token_hash CHAR(64) NOT NULL PRIMARY KEY,
    user_id    BIGINT   NOT NULL,
    created_at BIGINT   NOT NULL,
    expires_at BIGINT   NOT NULL,
    KEY sessions_user (user_id),
    CONSTRAINT sessions_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- last_seq is the room's sequence counter: bumped in the same transaction as
-- each message insert, so sequences are gap-free and per-room ordered.
CREATE TABLE rooms (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name            VARCHAR(64)  NOT NULL,
    name_key        VARCHAR(64)  NOT NULL,
    topic           VARCHAR(200) NOT NULL DEFAULT '',
    created_by      BIGINT       NOT NULL,
    created_at      BIGINT       NOT NULL,
    last_seq        BIGINT       NOT NULL DEFAULT 0,
    last_message_at BIGINT       NULL,
    UNIQUE KEY rooms_name_key (name_key),
    CONSTRAINT rooms_creator_fk FOREIGN KEY (created_by) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- (room_id, seq) is both the order and the keyset-pagination index;
-- (author_id, client_id) makes a retried send find its first copy.
CREATE TABLE messages (
    id         BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    room_id    BIGINT      NOT NULL,
    seq        BIGINT      NOT NULL,
    author_id  BIGINT      NOT NULL,
    client_id  VARCHAR(64) NOT NULL,
    body       TEXT        NOT NULL,
    created_at BIGINT      NOT NULL,
    UNIQUE KEY messages_room_seq (room_id, seq),
    UNIQUE KEY messages_author_client (author_id, client_id),
    CONSTRAINT messages_room_fk FOREIGN KEY (room_id) REFERENCES rooms (id),
    CONSTRAINT messages_author_fk FOREIGN KEY (author_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
