-- Migration 3: idempotency keys of run starts. A client that retries a
-- start with the same key, through any node, gets the run its first
-- request started.
CREATE TABLE start_keys (
    caller TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    request TEXT NOT NULL,
    run_id TEXT COLLATE "C" NOT NULL,
    held_at BIGINT NOT NULL,
    PRIMARY KEY (caller, key)
);
CREATE INDEX start_keys_by_age ON start_keys (held_at);
