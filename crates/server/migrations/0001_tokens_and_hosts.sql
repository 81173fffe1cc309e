-- The first schema: API tokens, and the hosts table that enrollment fills.
-- Portable SQL: the same text runs on SQLite and PostgreSQL (no SERIAL,
-- no BOOLEAN, no timestamp types: times are Unix seconds in BIGINT).

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    enrolled_at BIGINT NOT NULL,
    last_seen_at BIGINT
);
