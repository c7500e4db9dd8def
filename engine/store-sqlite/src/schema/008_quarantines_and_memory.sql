-- Migration 8: quarantined flow versions, and flow versions' own memory
-- limits. A version whose invocations kept ending in a resource limit is
-- quarantined until an operator lifts it; the version itself stays
-- immutable.
CREATE TABLE flow_quarantines (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    reason TEXT NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (name, version),
    FOREIGN KEY (name, version) REFERENCES flows (name, version)
);

-- A flow version may be deployed with a memory limit of its own (MiB);
-- NULL: the server's default.
ALTER TABLE flows ADD COLUMN memory_mib INTEGER;
