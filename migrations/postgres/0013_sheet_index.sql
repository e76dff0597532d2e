-- 0013 the daily sheet (督察单) counts a unit's running cases by part — overdue,
-- due by the end of the day, new since the last sheet — and lists the
-- earliest of each: this index answers the counts without reading the rows.
-- Same number and meaning as migrations/sqlite/0013_sheet_index.sql.

CREATE INDEX cases_unit_sheet ON cases (unit_id, state, overdue_at, deadline, dispatched_at);
