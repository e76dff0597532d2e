-- 0008 statistics (PRODUCT.md §4): what each case has been through, kept on
-- the case, and the sums of the loop's figures kept current in the same
-- transaction as each step (domain::stats). Same number and meaning as
-- migrations/sqlite/0008_statistics.sql.

ALTER TABLE cases ADD COLUMN accepted_at TIMESTAMPTZ;
ALTER TABLE cases ADD COLUMN dispatch_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN return_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN handle_count BIGINT NOT NULL DEFAULT 0;
-- Working minutes from the last dispatch to the handling that passed
-- verification; set when the case closes (the store knows the calendar).
ALTER TABLE cases ADD COLUMN handling_minutes BIGINT;

UPDATE cases SET
    accepted_at = (SELECT MIN(at) FROM case_events e WHERE e.case_id = cases.id AND e.action = 'accept'),
    dispatch_count = (SELECT COUNT(*) FROM case_events e WHERE e.case_id = cases.id AND e.action = 'dispatch'),
    return_count = (SELECT COUNT(*) FROM case_events e WHERE e.case_id = cases.id AND e.action = 'approve_return'),
    handle_count = (SELECT COUNT(*) FROM case_events e WHERE e.case_id = cases.id AND e.action = 'handle');

-- One row per district × dimension × grain (d/m/y) × bucket × value: the
-- sums of every case reported in that bucket with that value.
CREATE TABLE case_stats (
    district_id      BIGINT NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
    dim              TEXT NOT NULL,
    grain            TEXT NOT NULL,
    bucket           TEXT NOT NULL,
    value            TEXT NOT NULL,
    reported         BIGINT NOT NULL DEFAULT 0,
    accepted         BIGINT NOT NULL DEFAULT 0,
    rejected         BIGINT NOT NULL DEFAULT 0,
    merged           BIGINT NOT NULL DEFAULT 0,
    voided           BIGINT NOT NULL DEFAULT 0,
    dispatched       BIGINT NOT NULL DEFAULT 0,
    returned         BIGINT NOT NULL DEFAULT 0,
    handled          BIGINT NOT NULL DEFAULT 0,
    reworked         BIGINT NOT NULL DEFAULT 0,
    due              BIGINT NOT NULL DEFAULT 0,
    closed           BIGINT NOT NULL DEFAULT 0,
    closed_on_time   BIGINT NOT NULL DEFAULT 0,
    deferred         BIGINT NOT NULL DEFAULT 0,
    open             BIGINT NOT NULL DEFAULT 0,
    overdue          BIGINT NOT NULL DEFAULT 0,
    handling_minutes BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (district_id, dim, grain, bucket, value)
);
