-- A private room's name must not be learnable by someone outside it: with one
-- unique index over every room's name, creating a room called like a private
-- room answered "already exists". Public rooms keep the plain key (unique
-- among public rooms); a private room's key is scoped to its creator,
-- "\x02<creator id>:<name key>", so it is unique among that person's private
-- rooms and invisible to everyone else's attempts. (Direct rooms keep their
-- "\x01dm:…" keys; names cannot contain control characters, so no typed name
-- collides with either form.) The application also refuses a name equal to
-- any room its creator can see.
ALTER TABLE rooms MODIFY name_key VARCHAR(100) NOT NULL;
UPDATE rooms SET name_key = CONCAT(CHAR(2 USING utf8mb4), created_by, ':', name_key)
    WHERE is_private = 1 AND is_direct = 0;
