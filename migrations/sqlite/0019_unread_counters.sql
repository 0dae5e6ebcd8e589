-- Unread counters; see migrations/mysql/0019_unread_counters.sql.
ALTER TABLE room_events ADD COLUMN ordinal INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN posted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN read_posted INTEGER NOT NULL DEFAULT 0;
CREATE TABLE room_deletions (
    room_id INTEGER NOT NULL,
    ordinal INTEGER NOT NULL,
    PRIMARY KEY (room_id, ordinal)
);

UPDATE room_events SET ordinal = x.n
FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY room_id ORDER BY seq) AS n
      FROM room_events WHERE kind = 0) AS x
WHERE x.id = room_events.id;
UPDATE rooms SET posted = (SELECT COUNT(*) FROM room_events e WHERE e.room_id = rooms.id AND e.kind = 0);
INSERT INTO room_deletions (room_id, ordinal)
    SELECT room_id, ordinal FROM room_events WHERE kind = 0 AND deleted_at IS NOT NULL;
UPDATE memberships SET read_seq = o.last
FROM (SELECT room_id, author_id, MAX(seq) AS last FROM room_events WHERE kind = 0 GROUP BY room_id, author_id) AS o
WHERE o.room_id = memberships.room_id AND o.author_id = memberships.user_id AND memberships.read_seq < o.last;
UPDATE memberships SET read_posted = COALESCE((
    SELECT e.ordinal FROM room_events e
    WHERE e.room_id = memberships.room_id AND e.seq <= memberships.read_seq AND e.kind = 0
    ORDER BY e.seq DESC LIMIT 1), 0);
