-- The backstage: site roles and the audit trail.
--
-- users.role: 'member', 'moderator' or 'admin' (see app::protocol::SiteRole).
-- Granted with `server grant-role NAME admin` or by an administrator; the
-- last administrator who can log in is never demoted or disabled.
ALTER TABLE users ADD COLUMN role VARCHAR(16) NOT NULL DEFAULT 'member';
CREATE INDEX users_role ON users (role);

-- Every administrative and moderation action, written in the same
-- transaction as the action itself. Append-only: nothing in Natter updates
-- or deletes a row of it.
--
-- actor_id: NULL when the server's command line acted.
-- actor:    the actor's name at the time (names are shown as they were).
-- action:   see app::protocol::AuditAction.
-- target:   whom or what it acted on, by name.
-- address:  the client address of the request ("command line" for the binary).
CREATE TABLE audit_log (
    id       BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at       BIGINT       NOT NULL,
    actor_id BIGINT       NULL,
    actor    VARCHAR(64)  NOT NULL,
    action   VARCHAR(32)  NOT NULL,
    target   VARCHAR(255) NOT NULL,
    detail   VARCHAR(500) NOT NULL,
    address  VARCHAR(64)  NOT NULL,
    KEY audit_by_action (action, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
