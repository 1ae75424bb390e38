-- 007: stored tokens for re-scoring without re-analysis, and the progress of a (resumable) rescore.
-- tokens: [[text, norm, lemma, start, end], ...] in qa.records.Token field order, as analysed by the code whose
-- qa.analysis_version.analysis_version() is in analysis_version; a rescore reuses them only while it matches.
ALTER TABLE utterances ADD COLUMN tokens JSON;
ALTER TABLE utterances ADD COLUMN analysis_version VARCHAR;

-- One row per chunk written by a rescore (append-only: no keys, no upserts, so it works on DuckLake too).
-- A rescore resumes after the highest last_conversation_id of an unfinished run of the same rule set version.
CREATE TABLE rescore_progress (
    run_id               VARCHAR NOT NULL,
    ruleset_version      VARCHAR NOT NULL,
    last_conversation_id VARCHAR NOT NULL,
    conversations        INTEGER NOT NULL,
    flagged              INTEGER NOT NULL,
    failed               INTEGER NOT NULL,
    reanalysed           INTEGER NOT NULL,
    written_at           TIMESTAMPTZ NOT NULL
);
