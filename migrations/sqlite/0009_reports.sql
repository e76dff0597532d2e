-- 0009 supervision output: the office's assessment settings (ranking weights,
-- bulletin thresholds), the reports delivered to units' in-app inboxes
-- (督察单, weekly reports, bulletins), and webhooks with their delivery log.
-- Same number and meaning as migrations/postgres/0009_reports.sql.

-- TOML text, checked by domain::assessment before it is saved.
CREATE TABLE assessment_settings (
    district_id BIGINT PRIMARY KEY REFERENCES districts(id) ON DELETE CASCADE,
    body        TEXT NOT NULL,
    updated_by  BIGINT REFERENCES users(id) ON DELETE SET NULL,
    updated_at  TEXT NOT NULL
);

-- A report as delivered: a frozen copy of what it said (JSON), so the
-- sheet a unit received on Monday reads the same on Friday.
CREATE TABLE reports (
    id          INTEGER PRIMARY KEY,
    district_id BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,                 -- daily_sheet, weekly, bulletin
    unit_id     BIGINT REFERENCES units(id) ON DELETE CASCADE,
    day         TEXT NOT NULL,                 -- the Beijing day it is for (a week: its Monday)
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    read_at     TEXT
);
-- One sheet per unit and day, one weekly report and bulletin per week.
CREATE UNIQUE INDEX reports_once ON reports (district_id, kind, COALESCE(unit_id, 0), day);
CREATE INDEX reports_unit ON reports (unit_id, id);

CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY,
    district_id BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,                 -- encrypted (auth::crypto), shown once at creation
    events      TEXT NOT NULL,                 -- comma-separated report kinds
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TEXT NOT NULL
);

-- Every delivery and every attempt's outcome.
CREATE TABLE webhook_deliveries (
    id            INTEGER PRIMARY KEY,
    webhook_id    BIGINT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    district_id   BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    event         TEXT NOT NULL,
    payload       TEXT NOT NULL,
    state         TEXT NOT NULL,               -- pending, delivered, failed
    attempts      BIGINT NOT NULL DEFAULT 0,
    last_status   BIGINT,
    last_error    TEXT NOT NULL DEFAULT '',
    job_id        BIGINT,
    created_at    TEXT NOT NULL,
    last_attempt_at TEXT,
    delivered_at  TEXT
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, id);
