-- 015: each indexed sentence's term ids also as text (' 29 85 412 '), which a search's word checks read.
--
-- Why: a two-word search for one team over 30 days reads every sentence of those 30 days (about a million on a
-- store of 1M conversations; they are stored in date order, all teams together) and checks each one's words. Read
-- as a list column, the term ids cost a DuckLake's Parquet reader 240-300 ms there (lists decode level by level);
-- the same ids as one string cost 70 ms, and `contains(terms_text, ' 29 ')` is as exact as list_contains (every id
-- has a space on each side). The list stays: phrases and windows check word positions in it.
-- Derived data like the rest of the index: qa.store.search_index writes it with every row.
ALTER TABLE search_sentences ADD COLUMN terms_text VARCHAR;
UPDATE search_sentences SET terms_text = ' ' || array_to_string(terms, ' ') || ' ';
