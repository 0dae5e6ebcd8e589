-- Site settings an administrator changes at run time, one row each
-- (`site_name`, `signups`); a missing row means the default.
CREATE TABLE site_settings (
    name  VARCHAR(64)  NOT NULL PRIMARY KEY,
    value VARCHAR(255) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Invitations to sign up, for when sign-ups are by invitation. The link
-- carries a random 256-bit token; only its SHA-256 is stored, so the table
-- opens nothing and links cannot be guessed or listed.
-- uses_left: sign-ups it still allows; used: sign-ups it made.
CREATE TABLE invitations (
    id         BIGINT   NOT NULL AUTO_INCREMENT PRIMARY KEY,
    token_hash CHAR(64) NOT NULL,
    created_by BIGINT   NOT NULL,
    created_at BIGINT   NOT NULL,
    expires_at BIGINT   NOT NULL,
    uses_left  INT      NOT NULL,
    used       INT      NOT NULL,
    revoked_at BIGINT   NULL,
    UNIQUE KEY invitations_token (token_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
