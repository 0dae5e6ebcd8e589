-- A person's standing in a room beyond everyone's, on their membership row
-- (a public room gets one when banned or muted, even if never opened):
-- role:        'member' or 'moderator' (appointed by the room's owner).
-- banned_at:   set: kept out of the public room until lifted.
-- muted_until: their sends are refused until then (epoch ms).
ALTER TABLE memberships
    ADD COLUMN role VARCHAR(16) NOT NULL DEFAULT 'member',
    ADD COLUMN banned_at BIGINT NULL,
    ADD COLUMN muted_until BIGINT NULL;
