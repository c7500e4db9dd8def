-- What each flow invocation of a step printed and logged, per attempt. A
-- re-execution after a crash replaces the attempt's log (at least once).
CREATE TABLE step_logs (
    run_id TEXT NOT NULL REFERENCES runs (id),
    stage_run INTEGER NOT NULL,
    stage TEXT NOT NULL,
    step TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    flow_version INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    lines TEXT NOT NULL,
    PRIMARY KEY (run_id, stage_run, step, attempt)
);
