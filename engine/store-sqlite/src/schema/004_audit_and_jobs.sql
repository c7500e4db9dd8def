-- Migration 4: the audit log and resume jobs.

-- Who did what, to what, when, and how it ended; written in the transaction
-- of the effect it records. `target` is `kind:id`; `detail` is JSON or NULL.
-- A run's start writes a record on the hot path, so only the two filters an
-- investigation starts from are indexed; the others scan newest first, in
-- id order, and stop at a page.
CREATE TABLE audit (
    -- Never deleted, so rowids only grow (no AUTOINCREMENT table to update).
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('done', 'refused')),
    reason TEXT,
    detail TEXT
);
CREATE INDEX audit_by_actor ON audit (actor, id);
CREATE INDEX audit_by_target ON audit (target, id);
CREATE TRIGGER audit_immutable BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit records are immutable');
END;

-- Resume jobs. `spec` is the engine's description of the job (JSON).
CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    spec TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'canceled')),
    finished_at INTEGER
);
CREATE INDEX jobs_by_creation ON jobs (created_at);
-- The runs a job applies to, fixed when it is created; a row leaves
-- 'pending' in the transaction that resumes (or refuses) its run.
CREATE TABLE job_runs (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    seq INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'resumed', 'refused')),
    reason TEXT,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX job_runs_by_run ON job_runs (job_id, run_id);
CREATE INDEX job_runs_by_state ON job_runs (job_id, state, seq);
