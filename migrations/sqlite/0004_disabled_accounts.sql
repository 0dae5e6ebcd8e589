-- Disabled accounts; see migrations/mysql/0004_disabled_accounts.sql.
ALTER TABLE users ADD COLUMN disabled_at INTEGER NULL;
