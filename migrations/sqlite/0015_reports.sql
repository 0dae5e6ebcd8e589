-- Reported messages; see migrations/mysql/0015_reports.sql.
CREATE TABLE reports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  INTEGER NOT NULL,
    room_id     INTEGER NOT NULL,
    reporter_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    closed_at   INTEGER NULL,
    closed_by   TEXT    NULL,
    outcome     TEXT    NULL,
    UNIQUE (message_id, reporter_id)
);
CREATE INDEX reports_by_reporter ON reports (reporter_id, closed_at);
CREATE INDEX reports_room ON reports (room_id);
