-- 004: accounts of the review page, their sessions and the audit trail (logins, PII shown in clear, exports,
-- verdicts). Passwords are stored only as argon2 hashes; session tokens only as SHA-256 hashes.
CREATE TABLE users (
    username      VARCHAR PRIMARY KEY,
    password_hash VARCHAR NOT NULL,
    role          VARCHAR NOT NULL CHECK (role IN ('supervisor', 'team_lead', 'trainer', 'admin')),
    teams         VARCHAR[] NOT NULL DEFAULT [],
    pii           BOOLEAN NOT NULL DEFAULT FALSE,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    token_hash VARCHAR PRIMARY KEY,
    username   VARCHAR NOT NULL,
    csrf_token VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit (
    logged_at       TIMESTAMPTZ NOT NULL,
    username        VARCHAR,
    action          VARCHAR NOT NULL,
    conversation_id VARCHAR,
    detail          VARCHAR,
    client          VARCHAR
);
CREATE INDEX audit_logged_at ON audit (logged_at);
