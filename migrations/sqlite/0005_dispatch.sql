-- 0005 dispatch: the rule table that suggests a unit, and rectification-order batches.
-- Same number and meaning as migrations/postgres/0005_dispatch.sql.

-- category × place → unit. place_kind: point, grid, street, or 'category'
-- (no place: the category's department). category_code '*' matches any.
CREATE TABLE dispatch_rules (
    id            INTEGER PRIMARY KEY,
    district_id   BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    category_code TEXT NOT NULL,
    place_kind    TEXT NOT NULL,
    place_id      BIGINT,
    unit_id       BIGINT NOT NULL REFERENCES units(id) ON DELETE CASCADE,
    UNIQUE (district_id, category_code, place_kind, place_id)
);

-- Rectification orders (整改单) go out in numbered batches, per district per year.
CREATE TABLE batch_numbers (
    district_id BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    year        BIGINT NOT NULL,
    last        BIGINT NOT NULL,
    PRIMARY KEY (district_id, year)
);
CREATE TABLE order_batches (
    id          INTEGER PRIMARY KEY,
    district_id BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    number      TEXT NOT NULL,                  -- 2026-第012批
    note        TEXT NOT NULL DEFAULT '',
    created_by  BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (district_id, number)
);
ALTER TABLE cases ADD COLUMN batch_id BIGINT REFERENCES order_batches(id);
