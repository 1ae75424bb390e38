-- 008: the transcript search index (qa search, the page's search box), kept at write time like the current results.
--
-- search_terms is the lexicon: every lemma ever indexed, with a small integer id (append-only; ids are given in
-- the write transaction, which on a DuckLake holds the write token, so two writers never give one id twice).
-- search_sentences has one row per utterance of a scored conversation: the conversation columns a search filters on
-- (dated_at = current_scores.dated_at, so --since/--until mean what they mean everywhere), the speaker, the text,
-- and its tokens as term ids and start times in token order (lemmas exactly as the text stage made them).
-- Rows are inserted in dated_at order so that a date range skips whole row groups (zone maps on a file, Parquet
-- statistics on a lake); a search reads the range, filters team/operator/channel/speaker, then checks the term lists.
-- Both are derived data: qa.store rewrites the rows of every conversation it writes (qa.store.search_index).
CREATE TABLE search_terms (
    term_id INTEGER NOT NULL,
    lemma   VARCHAR NOT NULL
);

CREATE TABLE search_sentences (
    dated_at        TIMESTAMPTZ NOT NULL,
    team            VARCHAR,
    operator_id     VARCHAR,
    channel         VARCHAR NOT NULL,
    speaker         VARCHAR NOT NULL,
    conversation_id VARCHAR NOT NULL,
    utterance_idx   INTEGER NOT NULL,
    start_s         DOUBLE NOT NULL,
    text            VARCHAR NOT NULL,
    terms           INTEGER[] NOT NULL,  -- search_terms ids of the utterance's tokens, in order
    starts          FLOAT[] NOT NULL     -- each token's start in seconds (word timings where the call has them)
);

-- An existing database's utterances are indexed right after these statements, in the same transaction, by
-- qa.store.search_index.refresh_search (qa.store.migrations.BACKFILLS): in date order, a batch of conversations at a
-- time, so memory stays bounded however large the store.
