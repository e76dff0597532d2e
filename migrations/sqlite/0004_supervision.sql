-- 0004 supervision: case clocks (amber, overdue) and supervision orders (督办).
-- Same number and meaning as migrations/postgres/0004_supervision.sql.

ALTER TABLE cases ADD COLUMN clock_started_at TEXT;   -- when the current deadline's clock started
ALTER TABLE cases ADD COLUMN amber_at TEXT;           -- when 80% of the limit was used
ALTER TABLE cases ADD COLUMN overdue_at TEXT;         -- when the deadline passed
CREATE INDEX cases_clock ON cases (state, deadline);

-- Supervision orders to a unit's lead: raised automatically (overdue, rework)
-- once per case and stage, or by hand.
CREATE TABLE supervision_orders (
    id          INTEGER PRIMARY KEY,
    district_id BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    case_id     BIGINT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    unit_id     BIGINT NOT NULL REFERENCES units(id),
    reason      TEXT NOT NULL,                -- overdue, rework, manual
    stage       TEXT NOT NULL,                -- which clock of the case it is about
    note        TEXT NOT NULL DEFAULT '',
    created_by  BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    read_at     TEXT,
    UNIQUE (case_id, reason, stage)
);
CREATE INDEX supervision_orders_unit ON supervision_orders (unit_id, id);
CREATE INDEX supervision_orders_district ON supervision_orders (district_id, id);
