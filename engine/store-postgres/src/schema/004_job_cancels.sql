-- Migration 4: a resume job is canceled by the node that drives it. A node
-- asked to cancel a job another live node drives records who asked here;
-- the driver stops applying the job's resumes, lets those under way
-- commit, and ends the job as Canceled.
ALTER TABLE jobs ADD COLUMN cancel_requested_by TEXT;
