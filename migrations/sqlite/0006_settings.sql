-- 0006 settings: a district's own category table and working calendar, as
-- data it edits (the binary ships defaults in data/categories.toml and
-- data/holidays.toml). Same number and meaning as migrations/postgres/0006_settings.sql.

-- Every version of a district's category table; cases keep the version they
-- were filed under, so old versions stay.
CREATE TABLE category_tables (
    id          INTEGER PRIMARY KEY,
    district_id BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    version     TEXT NOT NULL,
    body        TEXT NOT NULL,                 -- the table, in the format of data/categories.toml
    created_by  BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (district_id, version)
);

-- A district's working calendar: periods and holidays.
CREATE TABLE calendars (
    district_id BIGINT PRIMARY KEY REFERENCES districts(id) ON DELETE CASCADE,
    body        TEXT NOT NULL,                 -- periods + holidays, see data/holidays.toml
    updated_by  BIGINT REFERENCES users(id) ON DELETE SET NULL,
    updated_at  TEXT NOT NULL
);
