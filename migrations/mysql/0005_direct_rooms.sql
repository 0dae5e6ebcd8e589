-- Direct messages are private rooms of exactly two members, one per pair of
-- users. Their name_key is "\x01dm:<lower id>:<higher id>": the control
-- character cannot occur in a room name anyone types (names reject control
-- characters), so the unique name_key index also makes the pair unique.
ALTER TABLE rooms ADD COLUMN is_direct BIGINT NOT NULL DEFAULT 0;
