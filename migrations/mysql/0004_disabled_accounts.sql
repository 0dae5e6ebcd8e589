-- An administrator can disable an account (`server disable-user NAME`): a
-- disabled user's sessions are deleted and no new one can start.
ALTER TABLE users ADD COLUMN disabled_at BIGINT NULL;
