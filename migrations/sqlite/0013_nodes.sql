-- The nodes serving; see migrations/mysql/0013_nodes.sql.
CREATE TABLE nodes (
    id         TEXT    NOT NULL PRIMARY KEY,
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    sockets    INTEGER NOT NULL,
    people     INTEGER NOT NULL
);
