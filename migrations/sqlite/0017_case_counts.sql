-- 0017 the home page's piles (待受理, 待派遣, …, 即将超期, 已超期) are read
-- from kept counts, not from the cases: at ten million cases the district's
-- open cases alone took a minute to read cold. A row counts the cases of
-- one state, one place (street, community), one responsible unit and one
-- alert ('overdue' when overdue_at is set, else 'amber' when amber_at is
-- set, else ''); 0 stands for no street, community or unit. Every state is
-- counted, so which states are open or running stays the domain's rule,
-- applied when the piles are read (Store::inbox). The triggers below keep
-- the counts in the statement that writes the case, whoever writes it:
-- filing, a step, the deadline watcher, a bulk load, an undo.
-- Same number and meaning as migrations/postgres/0017_case_counts.sql.

CREATE TABLE case_counts (
    district_id  INTEGER NOT NULL REFERENCES districts (id) ON DELETE CASCADE,
    street_id    INTEGER NOT NULL,
    community_id INTEGER NOT NULL,
    unit_id      INTEGER NOT NULL,
    state        TEXT    NOT NULL,
    alert        TEXT    NOT NULL,
    cases        INTEGER NOT NULL,
    PRIMARY KEY (district_id, street_id, community_id, unit_id, state, alert)
) WITHOUT ROWID;

INSERT INTO case_counts (district_id, street_id, community_id, unit_id, state, alert, cases)
SELECT district_id, COALESCE(street_id, 0), COALESCE(community_id, 0), COALESCE(unit_id, 0), state,
       CASE WHEN overdue_at IS NOT NULL THEN 'overdue' WHEN amber_at IS NOT NULL THEN 'amber' ELSE '' END,
       COUNT(*)
  FROM cases
 GROUP BY 1, 2, 3, 4, 5, 6;

CREATE TRIGGER case_counts_insert AFTER INSERT ON cases
BEGIN
    INSERT INTO case_counts (district_id, street_id, community_id, unit_id, state, alert, cases)
    VALUES (new.district_id, COALESCE(new.street_id, 0), COALESCE(new.community_id, 0), COALESCE(new.unit_id, 0),
            new.state,
            CASE WHEN new.overdue_at IS NOT NULL THEN 'overdue' WHEN new.amber_at IS NOT NULL THEN 'amber' ELSE '' END,
            1)
    ON CONFLICT (district_id, street_id, community_id, unit_id, state, alert) DO UPDATE SET cases = cases + 1;
END;

CREATE TRIGGER case_counts_delete AFTER DELETE ON cases
BEGIN
    UPDATE case_counts SET cases = cases - 1
     WHERE district_id = old.district_id
       AND street_id = COALESCE(old.street_id, 0)
       AND community_id = COALESCE(old.community_id, 0)
       AND unit_id = COALESCE(old.unit_id, 0)
       AND state = old.state
       AND alert = CASE WHEN old.overdue_at IS NOT NULL THEN 'overdue' WHEN old.amber_at IS NOT NULL THEN 'amber' ELSE '' END;
END;

CREATE TRIGGER case_counts_update AFTER UPDATE OF state, street_id, community_id, unit_id, amber_at, overdue_at ON cases
WHEN old.state IS NOT new.state
  OR old.street_id IS NOT new.street_id
  OR old.community_id IS NOT new.community_id
  OR old.unit_id IS NOT new.unit_id
  OR (old.amber_at IS NULL) <> (new.amber_at IS NULL)
  OR (old.overdue_at IS NULL) <> (new.overdue_at IS NULL)
BEGIN
    UPDATE case_counts SET cases = cases - 1
     WHERE district_id = old.district_id
       AND street_id = COALESCE(old.street_id, 0)
       AND community_id = COALESCE(old.community_id, 0)
       AND unit_id = COALESCE(old.unit_id, 0)
       AND state = old.state
       AND alert = CASE WHEN old.overdue_at IS NOT NULL THEN 'overdue' WHEN old.amber_at IS NOT NULL THEN 'amber' ELSE '' END;
    INSERT INTO case_counts (district_id, street_id, community_id, unit_id, state, alert, cases)
    VALUES (new.district_id, COALESCE(new.street_id, 0), COALESCE(new.community_id, 0), COALESCE(new.unit_id, 0),
            new.state,
            CASE WHEN new.overdue_at IS NOT NULL THEN 'overdue' WHEN new.amber_at IS NOT NULL THEN 'amber' ELSE '' END,
            1)
    ON CONFLICT (district_id, street_id, community_id, unit_id, state, alert) DO UPDATE SET cases = cases + 1;
END;

-- "My reports" (the home page's own pile, /cases?mine=1): a reporter's
-- cases, newest first, without walking the district's.
CREATE INDEX cases_list_reporter ON cases (district_id, reporter_id, id) WHERE reporter_id IS NOT NULL;
