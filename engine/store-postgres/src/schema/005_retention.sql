-- Migration 5: retention. One node at a time prunes what retention
-- removes (finished runs, ended jobs, old idempotency keys, the audit log
-- once exported); the others leave it alone while its hold lasts.
CREATE TABLE retention (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT COLLATE "C",
    held_until TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO retention (id) VALUES (1);
CREATE INDEX jobs_by_end ON jobs (finished_at) WHERE status <> 'running';
