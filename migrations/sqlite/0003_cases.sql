-- 0003 cases: problem cases, their events, gapless numbers, idempotency, attachments.
-- Same number and meaning as migrations/postgres/0003_cases.sql.

-- Case numbers per district per year, without gaps: the counter moves in
-- the same transaction as the case it numbers.
CREATE TABLE case_numbers (
    district_id BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    year        BIGINT NOT NULL,
    last        BIGINT NOT NULL,
    PRIMARY KEY (district_id, year)
);

CREATE TABLE cases (
    id               INTEGER PRIMARY KEY,
    district_id      BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    number           TEXT NOT NULL,                 -- 2026-000001
    state            TEXT NOT NULL,
    version          BIGINT NOT NULL DEFAULT 1,     -- optimistic concurrency
    source           TEXT NOT NULL,
    category_code    TEXT NOT NULL,
    category_version TEXT NOT NULL,
    condition_index  BIGINT NOT NULL,
    campaign         TEXT NOT NULL,
    limit_amount     BIGINT NOT NULL,
    limit_clock      TEXT NOT NULL,
    description      TEXT NOT NULL,
    address          TEXT NOT NULL DEFAULT '',
    lon              DOUBLE PRECISION,
    lat              DOUBLE PRECISION,
    grid_id          BIGINT REFERENCES grids(id) ON DELETE SET NULL,
    community_id     BIGINT REFERENCES units(id) ON DELETE SET NULL,
    street_id        BIGINT REFERENCES units(id) ON DELETE SET NULL,
    point_id         BIGINT REFERENCES points(id) ON DELETE SET NULL,
    reporter_id      BIGINT REFERENCES users(id) ON DELETE SET NULL,
    reporter_name    TEXT NOT NULL,
    unit_id          BIGINT REFERENCES units(id),   -- the main responsible unit
    co_unit_ids      TEXT NOT NULL DEFAULT '',
    deadline         TEXT,
    rework_count     BIGINT NOT NULL DEFAULT 0,
    duplicate_of     BIGINT REFERENCES cases(id),
    deferred_until   TEXT,                          -- YYYY-MM-DD of the deferral plan
    reported_at      TEXT NOT NULL,
    dispatched_at    TEXT,
    handled_at       TEXT,
    closed_at        TEXT,
    updated_at       TEXT NOT NULL
);
CREATE UNIQUE INDEX cases_number ON cases (district_id, number);
CREATE INDEX cases_state ON cases (district_id, state, id);
CREATE INDEX cases_unit ON cases (unit_id, state);
CREATE INDEX cases_street ON cases (street_id, state);

-- Every step of every case: who, when, from which state to which, and why.
CREATE TABLE case_events (
    id          INTEGER PRIMARY KEY,
    case_id     BIGINT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    district_id BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    action      TEXT NOT NULL,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    actor_id    BIGINT,
    actor       TEXT NOT NULL,
    note        TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    at          TEXT NOT NULL
);
CREATE INDEX case_events_case ON case_events (case_id, id);

-- Replayed creations answer with the first response.
CREATE TABLE idempotency_keys (
    district_id  BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    actor        TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT NOT NULL,
    response     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (district_id, key)
);

-- Photos and files: kept in the file store, described here.
CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    district_id  BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    case_id      BIGINT REFERENCES cases(id) ON DELETE CASCADE,
    event_id     BIGINT REFERENCES case_events(id) ON DELETE SET NULL,
    kind         TEXT NOT NULL,                 -- before, after, other
    file_name    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    file_key     TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    taken_at     TEXT,
    lon          DOUBLE PRECISION,
    lat          DOUBLE PRECISION,
    uploaded_by  BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX attachments_case ON attachments (case_id);
