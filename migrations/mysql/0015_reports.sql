-- Messages members reported to the administrators. One report per person
-- per message (a second is the first again). A report is open until an
-- administrator closes it: `outcome` is 'deleted' (the message was taken
-- down), 'resolved' or 'dismissed', `closed_by` their name at the time.
-- Deleting a room deletes its reports (see Store::delete_room).
CREATE TABLE reports (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    message_id  BIGINT       NOT NULL,
    room_id     BIGINT       NOT NULL,
    reporter_id BIGINT       NOT NULL,
    reason      VARCHAR(500) NOT NULL,
    created_at  BIGINT       NOT NULL,
    closed_at   BIGINT       NULL,
    closed_by   VARCHAR(64)  NULL,
    outcome     VARCHAR(16)  NULL,
    UNIQUE KEY reports_once (message_id, reporter_id),
    KEY reports_by_reporter (reporter_id, closed_at),
    KEY reports_room (room_id),
    CONSTRAINT reports_reporter_fk FOREIGN KEY (reporter_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
