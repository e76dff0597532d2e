-- 0018 two things a ten-million-case district needs (issue W1-G).
--
-- The case list's total under a category and a period counts the category's
-- cases of that period, not every case of the period: at ten million cases
-- a month is 800,000 rows, of one category a few tens of thousands.
--
-- A bulk load of cases (the demo generator) drops the secondary indexes of
-- the cases and their events, writes the rows, and builds each index once
-- at the end — a sort, where keeping them on every row rewrote their pages
-- tens of times over. The dropped indexes are written down here first, in
-- the same transaction, so that a load that stops midway leaves them
-- recorded: the next start builds them (Store::migrate).
-- Same number and meaning as migrations/postgres/0018_bulk_load.sql.

CREATE INDEX cases_category_reported ON cases (district_id, category_code, reported_at);

CREATE TABLE suspended_indexes (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
