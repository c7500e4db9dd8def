-- Migration 2: several nodes on one database.
--
-- Each engine process registers as a node with a lease it renews; times are
-- the database's own clock, so nodes need not agree on theirs. A run with
-- work in flight is owned by one node (`owner`); `epoch` rises with every
-- claim, and a node writes a run only at the epoch it claimed it with (its
-- fencing token). A run that waits on a person, an event or an operator is
-- owned by nobody until a command comes for it.
CREATE TABLE nodes (
    id TEXT COLLATE "C" PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_until TIMESTAMPTZ NOT NULL
);

ALTER TABLE runs ADD COLUMN owner TEXT COLLATE "C";
ALTER TABLE runs ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
CREATE INDEX runs_by_owner ON runs (owner) WHERE owner IS NOT NULL;

-- A running resume job is driven by one node; another takes it over once
-- that node's lease runs out.
ALTER TABLE jobs ADD COLUMN owner TEXT COLLATE "C";

-- Commands for a run another node owns, taken and answered by that node.
CREATE TABLE routed_commands (
    id BIGSERIAL PRIMARY KEY,
    run_id TEXT COLLATE "C" NOT NULL,
    command TEXT NOT NULL,
    taken_by TEXT COLLATE "C",
    answer TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX routed_commands_open ON routed_commands (run_id) WHERE taken_by IS NULL;

-- Rises with every change to the flows and orchestrations or to which
-- versions are active, so that nodes notice deploys made through others
-- (and told at once on channel stagecraft_catalog).
CREATE TABLE catalog_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    changes BIGINT NOT NULL
);
INSERT INTO catalog_changes (id, changes) VALUES (1, 0);
CREATE FUNCTION stagecraft_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_changes SET changes = changes + 1 WHERE id = 1;
    PERFORM pg_notify('stagecraft_catalog', '');
    RETURN NULL;
END $$;
CREATE TRIGGER flows_changed AFTER INSERT OR UPDATE OR DELETE ON flows
    FOR EACH STATEMENT EXECUTE FUNCTION stagecraft_catalog_changed();
CREATE TRIGGER active_flows_changed AFTER INSERT OR UPDATE OR DELETE ON active_flows
    FOR EACH STATEMENT EXECUTE FUNCTION stagecraft_catalog_changed();
CREATE TRIGGER orchestrations_changed AFTER INSERT OR UPDATE OR DELETE ON orchestrations
    FOR EACH STATEMENT EXECUTE FUNCTION stagecraft_catalog_changed();
CREATE TRIGGER active_orchestrations_changed AFTER INSERT OR UPDATE OR DELETE ON active_orchestrations
    FOR EACH STATEMENT EXECUTE FUNCTION stagecraft_catalog_changed();
