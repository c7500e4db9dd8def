-- Quarantined flow versions. A version whose invocations kept ending in a
-- resource limit is quarantined until an operator lifts it; every node
-- learns of it as of any catalog change.
CREATE TABLE flow_quarantines (
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    reason TEXT NOT NULL,
    since BIGINT NOT NULL,
    PRIMARY KEY (name, version),
    FOREIGN KEY (name, version) REFERENCES flows (name, version)
);
CREATE TRIGGER flow_quarantines_changed AFTER INSERT OR UPDATE OR DELETE ON flow_quarantines
    FOR EACH STATEMENT EXECUTE FUNCTION stagecraft_catalog_changed();

-- A flow version may be deployed with a memory limit of its own (MiB);
-- NULL: the server's default.
ALTER TABLE flows ADD COLUMN memory_mib BIGINT;
