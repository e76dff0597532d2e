-- 0011 bulk intake (批量导入): spreadsheets of findings from third-party
-- evaluators and exports of the 12345 hotline become cases in batches. A
-- batch keeps its file, the column mapping it used and its report; each case
-- it made points back to it, so the whole batch can be undone. The mapping a
-- source used last is kept per district and source. Same number and meaning
-- as migrations/postgres/0011_intake.sql.

CREATE TABLE intake_batches (
    id                 INTEGER PRIMARY KEY,
    district_id        BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    source             TEXT NOT NULL,                -- third_party, hotline
    file_name          TEXT NOT NULL,
    file_key           TEXT NOT NULL,                -- object_store path of the uploaded file
    format             TEXT NOT NULL,                -- xlsx, csv
    mapping            TEXT NOT NULL,                -- JSON: field → column header, and the file's coordinate system
    skip_bad_rows      BOOLEAN NOT NULL DEFAULT FALSE,
    import_duplicates  BOOLEAN NOT NULL DEFAULT FALSE,
    state              TEXT NOT NULL,                -- mapping, queued, running, refused, done, failed, undone
    total_rows         BIGINT NOT NULL DEFAULT 0,
    done_rows          BIGINT NOT NULL DEFAULT 0,
    imported           BIGINT NOT NULL DEFAULT 0,
    report             TEXT,                         -- JSON: bad rows, duplicates, counts
    created_by         BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_by_name    TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    finished_at        TEXT,
    undone_by_name     TEXT,
    undone_at          TEXT
);
CREATE INDEX intake_batches_district ON intake_batches (district_id, id);

CREATE TABLE intake_mappings (
    district_id  BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    source       TEXT NOT NULL,
    mapping      TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (district_id, source)
);

ALTER TABLE cases ADD COLUMN intake_batch_id BIGINT REFERENCES intake_batches(id);
ALTER TABLE cases ADD COLUMN external_ref TEXT;    -- the ticket or finding number in the source's own system
ALTER TABLE cases ADD COLUMN found_at TEXT;        -- when the source found it, if it said
CREATE INDEX cases_intake_batch ON cases (intake_batch_id) WHERE intake_batch_id IS NOT NULL;
-- One source's number is filed once: two batches racing with the same rows cannot both file them.
CREATE UNIQUE INDEX cases_external_ref ON cases (district_id, source, external_ref) WHERE external_ref IS NOT NULL;
