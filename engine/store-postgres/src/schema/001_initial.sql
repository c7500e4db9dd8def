-- Migration 1: the whole schema, as SQLite's after its migration 6.
-- Timestamps are BIGINT nanoseconds since the Unix epoch (the encoding every
-- backend shares). Ids and names sort bytewise (COLLATE "C"), as in SQLite,
-- so listings and cursors agree across backends.

-- Runs: `state` is the whole Run, LZ4-compressed JSON, the source of truth;
-- the other columns are projections of it for queries. `stage` is a live
-- run's stage, NULL once it is Completed or Canceled.
CREATE TABLE runs (
    id TEXT COLLATE "C" PRIMARY KEY,
    orchestration TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    stage TEXT COLLATE "C",
    state BYTEA NOT NULL
);
CREATE INDEX runs_by_status ON runs (status, started_at);
CREATE INDEX runs_by_orchestration ON runs (orchestration, status, started_at);
CREATE INDEX runs_by_start ON runs (started_at);
CREATE INDEX runs_by_stage ON runs (stage, started_at, id) WHERE stage IS NOT NULL;

-- Work items, projected from runs.state on every commit of their run.
CREATE TABLE work_items (
    id TEXT COLLATE "C" PRIMARY KEY,
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    assignee_kind TEXT NOT NULL CHECK (assignee_kind IN ('user', 'group', 'queue')),
    assignee_id TEXT COLLATE "C" NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    item TEXT NOT NULL
);
CREATE INDEX work_items_by_assignee ON work_items (assignee_kind, assignee_id, status, created_at);
CREATE INDEX work_items_by_run ON work_items (run_id);

CREATE FUNCTION stagecraft_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stored % are immutable', TG_TABLE_NAME;
END;
$$;

-- Flow versions and which one new steps use. Stored versions never change.
CREATE TABLE flows (
    name TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL CHECK (version >= 1),
    kind TEXT NOT NULL,
    digest TEXT NOT NULL,
    size BIGINT NOT NULL,
    bytes BYTEA NOT NULL,
    deployed_by TEXT NOT NULL,
    deployed_at BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TRIGGER flows_immutable BEFORE UPDATE ON flows
    FOR EACH ROW EXECUTE FUNCTION stagecraft_immutable();
CREATE TABLE active_flows (
    name TEXT COLLATE "C" PRIMARY KEY,
    version BIGINT NOT NULL,
    FOREIGN KEY (name, version) REFERENCES flows (name, version)
);

-- Orchestration versions and which one new runs use.
CREATE TABLE orchestrations (
    name TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL CHECK (version >= 1),
    definition TEXT NOT NULL,
    deployed_by TEXT NOT NULL,
    deployed_at BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TRIGGER orchestrations_immutable BEFORE UPDATE ON orchestrations
    FOR EACH ROW EXECUTE FUNCTION stagecraft_immutable();
CREATE TABLE active_orchestrations (
    name TEXT COLLATE "C" PRIMARY KEY,
    version BIGINT NOT NULL,
    FOREIGN KEY (name, version) REFERENCES orchestrations (name, version)
);

-- The directory. Members need not be known users.
CREATE TABLE users (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE groups (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE queues (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE group_members (
    group_id TEXT COLLATE "C" NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_by_user ON group_members (user_id);
CREATE TABLE queue_members (
    queue_id TEXT COLLATE "C" NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (queue_id, user_id)
);
CREATE INDEX queue_members_by_user ON queue_members (user_id);

-- What each flow invocation of a step printed and logged, per attempt.
CREATE TABLE step_logs (
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id),
    stage_run BIGINT NOT NULL,
    stage TEXT NOT NULL,
    step TEXT COLLATE "C" NOT NULL,
    attempt BIGINT NOT NULL,
    flow_version BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    lines TEXT NOT NULL,
    PRIMARY KEY (run_id, stage_run, step, attempt)
);

-- Who did what, to what, when, and how it ended; written in the
-- transaction of the effect it records.
CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT COLLATE "C" NOT NULL,
    action TEXT NOT NULL,
    target TEXT COLLATE "C" NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('done', 'refused')),
    reason TEXT,
    detail TEXT
);
CREATE INDEX audit_by_actor ON audit (actor, id);
CREATE INDEX audit_by_target ON audit (target, id);
CREATE TRIGGER audit_immutable BEFORE UPDATE ON audit
    FOR EACH ROW EXECUTE FUNCTION stagecraft_immutable();

-- Resume jobs and the runs each applies to.
CREATE TABLE jobs (
    id TEXT COLLATE "C" PRIMARY KEY,
    spec TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'canceled')),
    finished_at BIGINT
);
CREATE INDEX jobs_by_creation ON jobs (created_at);
CREATE TABLE job_runs (
    job_id TEXT COLLATE "C" NOT NULL REFERENCES jobs (id),
    seq BIGINT NOT NULL,
    run_id TEXT COLLATE "C" NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'resumed', 'refused')),
    reason TEXT,
    PRIMARY KEY (job_id, seq)
);
CREATE UNIQUE INDEX job_runs_by_run ON job_runs (job_id, run_id);
CREATE INDEX job_runs_by_state ON job_runs (job_id, state, seq);

-- Users' bearer tokens, as SHA-256 hashes.
CREATE TABLE tokens (
    sha256 BYTEA PRIMARY KEY,
    user_id TEXT COLLATE "C" NOT NULL,
    issued_at BIGINT NOT NULL
);
CREATE INDEX tokens_by_user ON tokens (user_id);
