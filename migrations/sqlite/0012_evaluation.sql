-- 0012 the evaluation system (测评体系) and rounds of evaluation (模拟测评,
-- 第三方测评, 暗访): a district's system per year as versioned TOML; a round
-- with its seed and quotas, the points it drew and who evaluates each, the
-- answers to each checklist item (a failed one linked to the case it raised)
-- and the scores the office entered for standards not measured in the field.
-- Same number and meaning as migrations/postgres/0012_evaluation.sql.

CREATE TABLE evaluation_systems (
    id               INTEGER PRIMARY KEY,
    district_id      BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    year             BIGINT NOT NULL,
    version          TEXT NOT NULL,
    body             TEXT NOT NULL,                -- TOML, checked by domain::evaluation
    created_by_name  TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    UNIQUE (district_id, year, version)
);

CREATE TABLE evaluation_rounds (
    id               INTEGER PRIMARY KEY,
    district_id      BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    system_id        BIGINT NOT NULL REFERENCES evaluation_systems(id),
    kind             TEXT NOT NULL,                -- simulated, third_party, unannounced
    name             TEXT NOT NULL,
    seed             BIGINT NOT NULL,
    quotas           TEXT NOT NULL,                -- JSON: point type → points to draw
    scope            TEXT NOT NULL DEFAULT '[]',   -- JSON: the streets drawn from; empty: the whole district
    entered          TEXT NOT NULL DEFAULT '{}',   -- JSON: standard code → score entered by the office
    state            TEXT NOT NULL,                -- open, closed
    created_by_name  TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    closed_at        TEXT
);
CREATE INDEX evaluation_rounds_district ON evaluation_rounds (district_id, id);

CREATE TABLE evaluation_round_points (
    round_id      BIGINT NOT NULL REFERENCES evaluation_rounds(id) ON DELETE CASCADE,
    point_id      BIGINT NOT NULL REFERENCES points(id),
    point_type    TEXT NOT NULL,
    unit_id       BIGINT NOT NULL REFERENCES units(id),     -- responsible when drawn
    street_id     BIGINT REFERENCES units(id),
    evaluator_id  BIGINT REFERENCES users(id) ON DELETE SET NULL,
    done_at       TEXT,
    PRIMARY KEY (round_id, point_id)
);
CREATE INDEX evaluation_round_points_evaluator ON evaluation_round_points (evaluator_id, round_id);

CREATE TABLE evaluation_answers (
    round_id          BIGINT NOT NULL,
    point_id          BIGINT NOT NULL,
    item_code         TEXT NOT NULL,
    result            TEXT NOT NULL,               -- pass, fail, serious, not_applicable
    occurrences       BIGINT NOT NULL DEFAULT 0,
    note              TEXT NOT NULL DEFAULT '',
    lon               DOUBLE PRECISION,
    lat               DOUBLE PRECISION,
    case_id           BIGINT REFERENCES cases(id),
    answered_by       BIGINT REFERENCES users(id) ON DELETE SET NULL,
    answered_by_name  TEXT NOT NULL,
    answered_at       TEXT NOT NULL,
    PRIMARY KEY (round_id, point_id, item_code),
    FOREIGN KEY (round_id, point_id) REFERENCES evaluation_round_points(round_id, point_id) ON DELETE CASCADE
);
