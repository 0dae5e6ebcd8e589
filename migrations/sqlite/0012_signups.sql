-- Site settings and invitations; see migrations/mysql/0012_signups.sql.
CREATE TABLE site_settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE invitations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT    NOT NULL,
    created_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    uses_left  INTEGER NOT NULL,
    used       INTEGER NOT NULL,
    revoked_at INTEGER NULL
);
CREATE UNIQUE INDEX invitations_token ON invitations (token_hash);
