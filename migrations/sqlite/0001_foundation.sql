-- 0001 foundation: districts, the org tree, places, people, jobs, imports.
-- Same number and meaning as migrations/postgres/0001_foundation.sql.
-- Times are stored by sqlx as RFC 3339 text in UTC; ids are 64-bit integers.

CREATE TABLE districts (
    id            INTEGER PRIMARY KEY,
    code          TEXT NOT NULL UNIQUE,          -- 6-digit county code (GB/T 2260)
    name          TEXT NOT NULL,
    center_lon    DOUBLE PRECISION NOT NULL,
    center_lat    DOUBLE PRECISION NOT NULL,
    places_version BIGINT NOT NULL DEFAULT 0,    -- bumped when grids change: spatial caches reload
    is_demo       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TEXT NOT NULL
);

-- The org tree (district → street/town → community/village) and every other
-- unit that can own places and receive orders. `path` is the materialised
-- path of ids ("/1/4/17/") so a subtree is one prefix match.
CREATE TABLE units (
    id          INTEGER PRIMARY KEY,
    district_id BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    parent_id   BIGINT REFERENCES units(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    path        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (district_id, code)
);
CREATE INDEX units_path ON units (district_id, path);
CREATE INDEX units_parent ON units (parent_id);

CREATE TABLE grids (
    id           INTEGER PRIMARY KEY,
    district_id  BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    code         TEXT NOT NULL,                  -- 15 digits: county 6 + street 3 + community 3 + grid 3
    name         TEXT NOT NULL,
    community_id BIGINT NOT NULL REFERENCES units(id),
    street_id    BIGINT NOT NULL REFERENCES units(id),
    boundary     TEXT NOT NULL,                  -- GeoJSON Polygon, WGS-84
    min_lon      DOUBLE PRECISION NOT NULL,
    min_lat      DOUBLE PRECISION NOT NULL,
    max_lon      DOUBLE PRECISION NOT NULL,
    max_lat      DOUBLE PRECISION NOT NULL,
    area_m2      DOUBLE PRECISION NOT NULL,
    created_at   TEXT NOT NULL,
    UNIQUE (district_id, code)
);
CREATE INDEX grids_community ON grids (community_id);

CREATE TABLE points (
    id                  INTEGER PRIMARY KEY,
    district_id         BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    code                TEXT NOT NULL,
    name                TEXT NOT NULL,
    point_type          TEXT NOT NULL,
    lon                 DOUBLE PRECISION NOT NULL,   -- the location, or the centre of the area
    lat                 DOUBLE PRECISION NOT NULL,
    area                TEXT,                        -- GeoJSON Polygon when the point is an area
    address             TEXT NOT NULL DEFAULT '',
    grid_id             BIGINT REFERENCES grids(id) ON DELETE SET NULL,
    community_id        BIGINT REFERENCES units(id) ON DELETE SET NULL,
    street_id           BIGINT REFERENCES units(id) ON DELETE SET NULL,
    responsible_unit_id BIGINT NOT NULL REFERENCES units(id),
    leader_name         TEXT NOT NULL DEFAULT '',    -- 包保 leader
    created_at          TEXT NOT NULL,
    UNIQUE (district_id, code)
);
CREATE INDEX points_type ON points (district_id, point_type);
CREATE INDEX points_street ON points (street_id);
CREATE INDEX points_unit ON points (responsible_unit_id);

-- Shop fronts under 门前三包 and the party responsible for each.
CREATE TABLE shop_fronts (
    id                INTEGER PRIMARY KEY,
    district_id       BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    code              TEXT NOT NULL,
    name              TEXT NOT NULL,
    business_type     TEXT NOT NULL DEFAULT '',
    lon               DOUBLE PRECISION NOT NULL,
    lat               DOUBLE PRECISION NOT NULL,
    address           TEXT NOT NULL DEFAULT '',
    responsible_party TEXT NOT NULL,
    grid_id           BIGINT REFERENCES grids(id) ON DELETE SET NULL,
    community_id      BIGINT REFERENCES units(id) ON DELETE SET NULL,
    street_id         BIGINT REFERENCES units(id) ON DELETE SET NULL,
    created_at        TEXT NOT NULL,
    UNIQUE (district_id, code)
);
CREATE INDEX shop_fronts_street ON shop_fronts (street_id);

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY,
    district_id          BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    unit_id              BIGINT NOT NULL REFERENCES units(id),
    username             TEXT NOT NULL UNIQUE,
    display_name         TEXT NOT NULL,
    password_hash        TEXT NOT NULL,
    must_change_password BOOLEAN NOT NULL DEFAULT TRUE,
    disabled             BOOLEAN NOT NULL DEFAULT FALSE,
    created_at           TEXT NOT NULL
);
CREATE INDEX users_unit ON users (unit_id);

CREATE TABLE user_roles (
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    district_id BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    role        TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);

-- Sessions: only the SHA-256 of the cookie token is stored.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    last_seen   TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Background jobs, claimed through the database so several app nodes are safe.
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL,                  -- queued, running, done, failed
    attempts    BIGINT NOT NULL DEFAULT 0,
    run_at      TEXT NOT NULL,
    claimed_by  TEXT,
    claimed_at  TEXT,
    last_error  TEXT,
    created_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX jobs_queue ON jobs (state, run_at);

-- Place imports started from the web: their progress and their report.
CREATE TABLE place_imports (
    id          INTEGER PRIMARY KEY,
    district_id BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    user_id     BIGINT REFERENCES users(id) ON DELETE SET NULL,
    kind        TEXT NOT NULL,                  -- grids, points, shop_fronts
    format      TEXT NOT NULL,                  -- geojson, xlsx
    crs         TEXT NOT NULL,                  -- wgs84, gcj02, bd09
    file_name   TEXT NOT NULL,
    file_key    TEXT NOT NULL,                  -- object_store path of the uploaded file
    skip_bad_rows BOOLEAN NOT NULL,
    state       TEXT NOT NULL,                  -- queued, running, done, refused, failed
    total_rows  BIGINT NOT NULL DEFAULT 0,
    done_rows   BIGINT NOT NULL DEFAULT 0,
    imported    BIGINT NOT NULL DEFAULT 0,
    report      TEXT,                           -- JSON: every bad row with field and reason
    created_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX place_imports_district ON place_imports (district_id, id);
