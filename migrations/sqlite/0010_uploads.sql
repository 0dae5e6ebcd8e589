-- Uploaded files; see migrations/mysql/0010_uploads.sql.
CREATE TABLE uploads (
    id           TEXT    NOT NULL PRIMARY KEY,
    uploader_id  INTEGER NOT NULL REFERENCES users (id),
    name         TEXT    NOT NULL,
    mime         TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    blob_key     TEXT    NOT NULL,
    preview_key  TEXT    NULL,
    preview_mime TEXT    NULL,
    width        INTEGER NULL,
    height       INTEGER NULL,
    animated     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    room_id      INTEGER NULL,
    message_id   INTEGER NULL UNIQUE
);
CREATE INDEX uploads_uploader ON uploads (uploader_id, created_at);
CREATE INDEX uploads_created ON uploads (created_at);
CREATE INDEX uploads_blob ON uploads (blob_key);
CREATE INDEX uploads_preview ON uploads (preview_key);
