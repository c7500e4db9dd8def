-- Migration 7: idempotency keys of run starts. A client that retries a
-- start with the same key gets the run its first request started.
CREATE TABLE start_keys (
    caller TEXT NOT NULL,
    key TEXT NOT NULL,
    request TEXT NOT NULL,
    run_id TEXT NOT NULL,
    held_at INTEGER NOT NULL,
    PRIMARY KEY (caller, key)
) WITHOUT ROWID;
CREATE INDEX start_keys_by_age ON start_keys (held_at);
