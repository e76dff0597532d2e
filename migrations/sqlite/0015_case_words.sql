-- 0015 the keyword search of the case list finds cases by the character
-- pairs of their descriptions (domain::words): "垃圾桶：满溢" is kept as
-- "垃圾 圾桶 满溢". An FTS5 table keeps them, its rowid the case's id, and
-- keeps no copy of the text (contentless); it answers newest first, so a
-- page stops after 50 matches instead of reading every description.
-- The store writes a case's words in the transaction that files it; a
-- database from before this migration gets them when it is next opened
-- (Store::migrate). Same number and meaning as
-- migrations/postgres/0015_case_words.sql.

CREATE VIRTUAL TABLE case_words USING fts5(
    words,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0'
);

CREATE TRIGGER case_words_of_deleted_case AFTER DELETE ON cases BEGIN
    DELETE FROM case_words WHERE rowid = old.id;
END;
