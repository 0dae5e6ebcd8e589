-- Uploaded files. The bytes live in blob storage (a local folder or an
-- S3-compatible store) under their SHA-256 (`blob_key`), so the same bytes
-- are stored once; a row is one upload of them by one person, under the
-- name they gave it.
--
-- id:          random (128 bits, hex): the file's address, though knowing it
--              grants nothing (every fetch checks access to its room).
-- mime:        sniffed from the bytes, never taken from the name or browser.
-- preview_key: a smaller (or still) picture for the conversation, if any.
-- width, height: an image's, upright; NULL for other files.
-- room_id, message_id: set once, when its uploader attaches it to a
--              message (the message's row in room_events); an upload never
--              attached is swept after a grace period.
CREATE TABLE uploads (
    id           CHAR(32)     NOT NULL PRIMARY KEY,
    uploader_id  BIGINT       NOT NULL,
    name         VARCHAR(255) NOT NULL,
    mime         VARCHAR(100) NOT NULL,
    size         BIGINT       NOT NULL,
    blob_key     CHAR(64)     NOT NULL,
    preview_key  CHAR(64)     NULL,
    preview_mime VARCHAR(32)  NULL,
    width        BIGINT       NULL,
    height       BIGINT       NULL,
    animated     BIGINT       NOT NULL DEFAULT 0,
    created_at   BIGINT       NOT NULL,
    room_id      BIGINT       NULL,
    message_id   BIGINT       NULL,
    UNIQUE KEY uploads_message (message_id),
    KEY uploads_uploader (uploader_id, created_at),
    KEY uploads_created (created_at),
    KEY uploads_blob (blob_key),
    KEY uploads_preview (preview_key),
    CONSTRAINT uploads_uploader_fk FOREIGN KEY (uploader_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
