-- 0019 two figures that read their backlog instead of a page at ten million
-- cases (issue W1-G).
--
-- The daily inspection sheet (督察单, Store::unit_sheet_cases) of a
-- unit with a backlog of tens of thousands reads a page's worth of cases,
-- not the backlog. Before, at ten million cases, the demo's units held 34,000
-- running cases each and every sheet counted them all, sorted the overdue
-- ones to list the first 100 and read all of them again to find those
-- dispatched since the day before: 165 ms a sheet.
--
-- The sheet's counts of running and overdue cases come from case_counts
-- (0017), read by unit here. The overdue list walks its own partial index in
-- deadline order and stops after a page, and so does the list of those not
-- marked overdue whose deadline falls by the end of the day; "newly
-- dispatched" ranges over the unit's running cases by dispatch time. The states are the domain's
-- running states (CaseState::unit_clock_runs), written word for word as the
-- query writes them, so both backends can use the partial indexes; a unit
-- test checks the two lists agree.
--
-- The case list's total under a category and a period together with a
-- street or a state read each of the category's cases of the period from
-- the table to check the street and the state: at ten million cases one
-- category's month is 100,000 cases, 150 ms for a total of 5,000. The
-- index of 0018 now carries the street and the state, so that total is
-- counted from the index alone. So is a total under a period with a street,
-- a state or both and no category: `cases_reported` (0010) carries them too,
-- after the report time and id that Open311's window is read in. Before, a
-- street's closed cases of a month read 10,001 cases from the table (70 to
-- 120 ms at ten million); from the index, a whole month is 841,163 entries
-- in 35 ms. A bulk load stopped midway may have left an old index dropped
-- and written down to be built again: it is forgotten, so only the new one
-- is built.
-- Same number and meaning as migrations/postgres/0019_sheets_and_totals.sql.

CREATE INDEX case_counts_unit ON case_counts (district_id, unit_id, state);

CREATE INDEX cases_unit_overdue ON cases (unit_id, deadline, id)
    WHERE state IN ('dispatched', 'return_requested', 'in_progress', 'extension_requested', 'deferral_requested')
      AND overdue_at IS NOT NULL;
CREATE INDEX cases_unit_due ON cases (unit_id, deadline, id)
    WHERE state IN ('dispatched', 'return_requested', 'in_progress', 'extension_requested', 'deferral_requested')
      AND overdue_at IS NULL;
CREATE INDEX cases_unit_new ON cases (unit_id, dispatched_at)
    WHERE state IN ('dispatched', 'return_requested', 'in_progress', 'extension_requested', 'deferral_requested');

DROP INDEX IF EXISTS cases_category_reported;
DELETE FROM suspended_indexes WHERE name = 'cases_category_reported';
CREATE INDEX cases_category_reported ON cases (district_id, category_code, reported_at, street_id, state);

DROP INDEX IF EXISTS cases_reported;
DELETE FROM suspended_indexes WHERE name = 'cases_reported';
CREATE INDEX cases_reported ON cases (district_id, reported_at, id, street_id, state, category_code);
