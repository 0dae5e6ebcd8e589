-- Site roles and the audit trail; see migrations/mysql/0011_backstage.sql.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'member';
CREATE INDEX users_role ON users (role);

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    actor_id INTEGER NULL,
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    target   TEXT    NOT NULL,
    detail   TEXT    NOT NULL,
    address  TEXT    NOT NULL
);
CREATE INDEX audit_by_action ON audit_log (action, id);
