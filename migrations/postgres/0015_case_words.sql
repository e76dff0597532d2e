-- 0015 the keyword search of the case list finds cases by the character
-- pairs of their descriptions (domain::words): "垃圾桶：满溢" is kept as
-- "垃圾 圾桶 满溢", and a GIN index over those pairs finds the cases that
-- have all the pairs of a keyword without reading every description.
-- The store writes a case's words in the transaction that files it; a
-- database from before this migration gets them when it is next opened
-- (Store::migrate). Same number and meaning as
-- migrations/sqlite/0015_case_words.sql.

CREATE TABLE case_words (
    case_id BIGINT PRIMARY KEY REFERENCES cases (id) ON DELETE CASCADE,
    words   TEXT NOT NULL
);

CREATE INDEX case_words_pairs ON case_words USING GIN (string_to_array(words, ' '));
