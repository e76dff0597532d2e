-- 0016 the weekly report lists the open cases sent back for rework, and
-- those returned by their unit, newest first with their number
-- (Store::difficult_cases). Without an index each list read every case of
-- the district: 281 s for the reworked ones at ten million cases. These
-- partial indexes hold only those open cases; their conditions are the
-- query's own, word for word, so both backends can use them.
-- Same number and meaning as migrations/sqlite/0016_difficult_cases.sql.

CREATE INDEX cases_reworked_open ON cases (district_id, id)
    WHERE rework_count > 0 AND state NOT IN ('closed', 'voided');
CREATE INDEX cases_returned_open ON cases (district_id, id)
    WHERE return_count > 0 AND state NOT IN ('closed', 'voided');
