-- 0010 integration: the clients of the Open311 GeoReport v2 endpoint, each
-- with its own api_key (only its SHA-256 is kept); the token handed back for
-- a request is kept with the case as an idempotency key. Same number and meaning as
-- migrations/postgres/0010_open311.sql.

CREATE TABLE open311_clients (
    id           INTEGER PRIMARY KEY,
    district_id  BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    unit_id      BIGINT REFERENCES units(id),   -- NULL: the whole district
    key_hash     TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,                 -- the first characters, to recognise a key in lists
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX open311_clients_district ON open311_clients (district_id, id);

-- `GET requests` reads a window of report times; `GET servicerequestupdates`
-- a window of steps.
CREATE INDEX cases_reported ON cases (district_id, reported_at, id);
CREATE INDEX case_events_at ON case_events (district_id, at, id);
