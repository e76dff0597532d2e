-- 0007 lookups: the reports merged into a case (shown with every case) and
-- the cases of a rectification-order batch were found by scanning all cases.
-- Same number and meaning as migrations/postgres/0007_lookups.sql.

CREATE INDEX cases_duplicate_of ON cases (duplicate_of) WHERE duplicate_of IS NOT NULL;
CREATE INDEX cases_batch ON cases (batch_id) WHERE batch_id IS NOT NULL;
