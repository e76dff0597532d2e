-- 0017 the home page's piles (待受理, 待派遣, …, 即将超期, 已超期) are read
-- from kept counts, not from the cases: at ten million cases the district's
-- open cases alone took a minute to read cold. A row counts the cases of
-- one state, one place (street, community), one responsible unit and one
-- alert ('overdue' when overdue_at is set, else 'amber' when amber_at is
-- set, else ''); 0 stands for no street, community or unit. Every state is
-- counted, so which states are open or running stays the domain's rule,
-- applied when the piles are read (Store::inbox). The trigger below keeps
-- the counts in the statement that writes the case, whoever writes it:
-- filing, a step, the deadline watcher, a bulk load, an undo.
-- Same number and meaning as migrations/sqlite/0017_case_counts.sql.

CREATE TABLE case_counts (
    district_id  BIGINT NOT NULL REFERENCES districts (id) ON DELETE CASCADE,
    street_id    BIGINT NOT NULL,
    community_id BIGINT NOT NULL,
    unit_id      BIGINT NOT NULL,
    state        TEXT   NOT NULL,
    alert        TEXT   NOT NULL,
    cases        BIGINT NOT NULL,
    PRIMARY KEY (district_id, street_id, community_id, unit_id, state, alert)
);

CREATE FUNCTION case_alert(amber_at TIMESTAMPTZ, overdue_at TIMESTAMPTZ) RETURNS TEXT
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT CASE WHEN overdue_at IS NOT NULL THEN 'overdue' WHEN amber_at IS NOT NULL THEN 'amber' ELSE '' END $$;

INSERT INTO case_counts (district_id, street_id, community_id, unit_id, state, alert, cases)
SELECT district_id, COALESCE(street_id, 0), COALESCE(community_id, 0), COALESCE(unit_id, 0), state,
       case_alert(amber_at, overdue_at), COUNT(*)
  FROM cases
 GROUP BY 1, 2, 3, 4, 5, 6;

CREATE FUNCTION case_counts_move() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE case_counts SET cases = cases - 1
         WHERE district_id = OLD.district_id
           AND street_id = COALESCE(OLD.street_id, 0)
           AND community_id = COALESCE(OLD.community_id, 0)
           AND unit_id = COALESCE(OLD.unit_id, 0)
           AND state = OLD.state
           AND alert = case_alert(OLD.amber_at, OLD.overdue_at);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO case_counts (district_id, street_id, community_id, unit_id, state, alert, cases)
        VALUES (NEW.district_id, COALESCE(NEW.street_id, 0), COALESCE(NEW.community_id, 0), COALESCE(NEW.unit_id, 0),
                NEW.state, case_alert(NEW.amber_at, NEW.overdue_at), 1)
        ON CONFLICT (district_id, street_id, community_id, unit_id, state, alert)
        DO UPDATE SET cases = case_counts.cases + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER case_counts_insert_delete AFTER INSERT OR DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION case_counts_move();

CREATE TRIGGER case_counts_update AFTER UPDATE OF state, street_id, community_id, unit_id, amber_at, overdue_at ON cases
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state
       OR OLD.street_id IS DISTINCT FROM NEW.street_id
       OR OLD.community_id IS DISTINCT FROM NEW.community_id
       OR OLD.unit_id IS DISTINCT FROM NEW.unit_id
       OR (OLD.amber_at IS NULL) <> (NEW.amber_at IS NULL)
       OR (OLD.overdue_at IS NULL) <> (NEW.overdue_at IS NULL))
    EXECUTE FUNCTION case_counts_move();

-- "My reports" (the home page's own pile, /cases?mine=1): a reporter's
-- cases, newest first, without walking the district's.
CREATE INDEX cases_list_reporter ON cases (district_id, reporter_id, id) WHERE reporter_id IS NOT NULL;
