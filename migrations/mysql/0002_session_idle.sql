-- Idle expiry: a session unused for a while ends even before its absolute
-- expiry. Existing sessions count as seen when they were created.
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET last_seen_at = created_at;
