-- Migration 6: a live run's stage (the one in progress, or in error, or
-- suspended in) as a column, so that runs can be listed by stage without
-- reading their state. NULL once the run is Completed or Canceled: the
-- partial index holds only live runs. The rows already stored are filled in
-- by the migration's hook, which reads their state.
ALTER TABLE runs ADD COLUMN stage TEXT;
CREATE INDEX runs_by_stage ON runs (stage, started_at, id) WHERE stage IS NOT NULL;
