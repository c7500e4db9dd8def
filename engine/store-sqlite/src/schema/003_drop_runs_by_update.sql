-- No query orders or filters runs by their last update, yet the index was
-- rewritten on every transition: one more page per commit for nothing.
DROP INDEX runs_by_update;
