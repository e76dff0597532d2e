-- 0007 lookups and guards: the reports merged into a case (shown with every case) and
-- the cases of a rectification-order batch were found by scanning all cases.
-- Same number and meaning as migrations/postgres/0007_lookups.sql.

CREATE INDEX cases_duplicate_of ON cases (duplicate_of) WHERE duplicate_of IS NOT NULL;
CREATE INDEX cases_batch ON cases (batch_id) WHERE batch_id IS NOT NULL;

-- A periodic job (its kind in `periodic`, e.g. deadline_watch) is queued or
-- running at most once, however many nodes schedule it at the same moment.
ALTER TABLE jobs ADD COLUMN periodic TEXT;
CREATE UNIQUE INDEX jobs_one_periodic ON jobs (periodic) WHERE state IN ('queued', 'running');
