-- Migration 1: the whole schema.
-- Timestamps are INTEGER nanoseconds since the Unix epoch.

-- Marks the file as a Stagecraft store ("STGC").
PRAGMA application_id = 1398032195;

-- Runs: `state` is the whole Run as JSON, the source of truth; the other
-- columns are projections of it for queries.
CREATE TABLE runs (
    id TEXT PRIMARY KEY NOT NULL,
    orchestration TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX runs_by_status ON runs (status, started_at);
CREATE INDEX runs_by_orchestration ON runs (orchestration, status, started_at);
CREATE INDEX runs_by_start ON runs (started_at);
CREATE INDEX runs_by_update ON runs (updated_at);

-- Work items, projected from runs.state on every commit of their run.
CREATE TABLE work_items (
    id TEXT PRIMARY KEY NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    assignee_kind TEXT NOT NULL CHECK (assignee_kind IN ('user', 'group', 'queue')),
    assignee_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    item TEXT NOT NULL
);
CREATE INDEX work_items_by_assignee ON work_items (assignee_kind, assignee_id, status, created_at);
CREATE INDEX work_items_by_run ON work_items (run_id);

-- Flow versions and which one new steps use. Stored versions never change.
CREATE TABLE flows (
    name TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    kind TEXT NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    deployed_by TEXT NOT NULL,
    deployed_at INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TRIGGER flows_immutable BEFORE UPDATE ON flows
BEGIN
    SELECT RAISE(ABORT, 'stored flow versions are immutable');
END;
CREATE TABLE active_flows (
    name TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    FOREIGN KEY (name, version) REFERENCES flows (name, version)
);

-- Orchestration versions and which one new runs use.
CREATE TABLE orchestrations (
    name TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    definition TEXT NOT NULL,
    deployed_by TEXT NOT NULL,
    deployed_at INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TRIGGER orchestrations_immutable BEFORE UPDATE ON orchestrations
BEGIN
    SELECT RAISE(ABORT, 'stored orchestration versions are immutable');
END;
CREATE TABLE active_orchestrations (
    name TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    FOREIGN KEY (name, version) REFERENCES orchestrations (name, version)
);

-- The directory. Members need not be known users (the engine reports an
-- unresolvable assignee when it meets one).
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE groups (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL
);
CREATE TABLE queues (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL
);
CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX group_members_by_user ON group_members (user_id);
CREATE TABLE queue_members (
    queue_id TEXT NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    PRIMARY KEY (queue_id, user_id)
) WITHOUT ROWID;
CREATE INDEX queue_members_by_user ON queue_members (user_id);
