-- 0014 the case list pages newest first by keyset (id), under a filter of
-- the district and, often, a street or a category: with these the list walks
-- an index already in id order and stops after a page, where before it read
-- every case of the filter and sorted them (at ten million cases, seconds).
-- Same number and meaning as migrations/sqlite/0014_case_list_indexes.sql.

CREATE INDEX cases_list ON cases (district_id, id);
CREATE INDEX cases_list_street ON cases (district_id, street_id, id);
CREATE INDEX cases_list_category ON cases (district_id, category_code, id);
