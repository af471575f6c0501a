-- 2: access tokens for the network surfaces. Only a SHA-256 of each token is stored.
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX tokens_active ON tokens(revoked_at) WHERE revoked_at IS NULL;
