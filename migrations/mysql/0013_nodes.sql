-- The nodes serving: each writes its row every few seconds (started, last
-- seen, its open sockets and the people they belong to); the backstage lists
-- those seen lately. A node gone for a day has its row removed.
CREATE TABLE nodes (
    id         VARCHAR(64) NOT NULL PRIMARY KEY,
    started_at BIGINT      NOT NULL,
    seen_at    BIGINT      NOT NULL,
    sockets    BIGINT      NOT NULL,
    people     BIGINT      NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
