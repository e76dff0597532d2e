-- 0002 access: lockout, personal information, API tokens, the audit chain.
-- Same number and meaning as migrations/postgres/0002_access.sql.

ALTER TABLE users ADD COLUMN phone_enc TEXT;            -- encrypted at rest: "<key id>:<base64 nonce+ciphertext>"
ALTER TABLE users ADD COLUMN phone_index TEXT;          -- keyed hash (HMAC) for exact-match search
ALTER TABLE users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TEXT;
ALTER TABLE users ADD COLUMN password_changed_at TEXT;
CREATE INDEX users_phone_index ON users (phone_index);

-- Tokens for machine clients: only the SHA-256 of the token is kept.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    district_id  BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    unit_id      BIGINT NOT NULL REFERENCES units(id),
    roles        TEXT NOT NULL,                 -- role codes, comma-separated
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,                 -- the first characters, to recognise a token in lists
    created_by   BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_tokens_district ON api_tokens (district_id, id);

-- The audit trail: append-only, each entry chained to the previous by hash.
-- `id` is the sequence number handed out by audit_head: no gaps.
CREATE TABLE audit_log (
    id          BIGINT PRIMARY KEY,
    district_id BIGINT,
    at          TEXT NOT NULL,
    actor_id    BIGINT,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    object      TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    ip          TEXT NOT NULL DEFAULT '',
    algorithm   TEXT NOT NULL,                  -- sha256 or sm3
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_log_district ON audit_log (district_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

-- The head of the chain: one row, locked by every append.
CREATE TABLE audit_head (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    seq       BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Append-only: the application never changes or removes an entry.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
