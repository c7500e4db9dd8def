-- Migration 5: user tokens move from the server's tokens.json into the
-- store, so that issuing and revoking one commits with its audit record
-- (and every node of a cluster sees the same tokens). Only SHA-256 hashes
-- are kept.
CREATE TABLE tokens (
    sha256 BLOB PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    issued_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tokens_by_user ON tokens (user_id);
