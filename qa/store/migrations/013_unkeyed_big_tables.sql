-- 013: the four big tables (conversations, utterances, findings, scores) lose their primary keys and indexes and
-- are rewritten in conversation_id order.
--
-- Why: a DuckDB file rewrites the ART index of every table a transaction changed when it checkpoints, and the flow
-- checkpoints after every chunk (it closes the file so that readers can open it). At 1M conversations those four
-- indexes hold 25M keys: closing after one chunk's write took 0.4–1.5 s more than on an empty store, most of a
-- chunk's write. Uniqueness is kept by the write path, as on DuckLake, which has no keys at all: every write
-- deletes a conversation's rows by key before it inserts them, in one transaction (qa.store.base). The id order lets
-- those keyed deletes and reads skip every row group whose ids lie outside a chunk's (DuckDB's zone maps).
--
-- Columns are carried over whatever they are (CREATE TABLE AS), so a column added by an earlier migration stays;
-- NOT NULL is put back on the key columns. The views read these tables by name and need nothing.
--
-- ducklake: skip (a lake never had keys or indexes; its data files are not rewritten)
CREATE TABLE conversations_013 AS SELECT * FROM conversations ORDER BY conversation_id;
DROP TABLE conversations;
ALTER TABLE conversations_013 RENAME TO conversations;
ALTER TABLE conversations ALTER COLUMN conversation_id SET NOT NULL;
ALTER TABLE conversations ALTER COLUMN channel SET NOT NULL;
ALTER TABLE conversations ALTER COLUMN source_path SET NOT NULL;
ALTER TABLE conversations ALTER COLUMN content_sha256 SET NOT NULL;
ALTER TABLE conversations ALTER COLUMN ingested_at SET NOT NULL;

CREATE TABLE utterances_013 AS SELECT * FROM utterances ORDER BY conversation_id, idx;
DROP TABLE utterances;
ALTER TABLE utterances_013 RENAME TO utterances;
ALTER TABLE utterances ALTER COLUMN conversation_id SET NOT NULL;
ALTER TABLE utterances ALTER COLUMN idx SET NOT NULL;
ALTER TABLE utterances ALTER COLUMN speaker SET NOT NULL;
ALTER TABLE utterances ALTER COLUMN start_s SET NOT NULL;
ALTER TABLE utterances ALTER COLUMN end_s SET NOT NULL;
ALTER TABLE utterances ALTER COLUMN text SET NOT NULL;
ALTER TABLE utterances ALTER COLUMN lemmas SET NOT NULL;

CREATE TABLE findings_013 AS SELECT * FROM findings ORDER BY conversation_id, ruleset_version, finding_idx;
DROP TABLE findings;
ALTER TABLE findings_013 RENAME TO findings;
ALTER TABLE findings ALTER COLUMN conversation_id SET NOT NULL;
ALTER TABLE findings ALTER COLUMN ruleset_version SET NOT NULL;
ALTER TABLE findings ALTER COLUMN finding_idx SET NOT NULL;
ALTER TABLE findings ALTER COLUMN rule_id SET NOT NULL;
ALTER TABLE findings ALTER COLUMN category SET NOT NULL;
ALTER TABLE findings ALTER COLUMN kind SET NOT NULL;
ALTER TABLE findings ALTER COLUMN severity SET NOT NULL;
ALTER TABLE findings ALTER COLUMN speaker SET NOT NULL;
ALTER TABLE findings ALTER COLUMN start_s SET NOT NULL;
ALTER TABLE findings ALTER COLUMN end_s SET NOT NULL;
ALTER TABLE findings ALTER COLUMN quote SET NOT NULL;

CREATE TABLE scores_013 AS SELECT * FROM scores ORDER BY conversation_id, ruleset_version;
DROP TABLE scores;
ALTER TABLE scores_013 RENAME TO scores;
ALTER TABLE scores ALTER COLUMN conversation_id SET NOT NULL;
ALTER TABLE scores ALTER COLUMN ruleset_version SET NOT NULL;
ALTER TABLE scores ALTER COLUMN total SET NOT NULL;
ALTER TABLE scores ALTER COLUMN passed SET NOT NULL;
ALTER TABLE scores ALTER COLUMN flagged SET NOT NULL;
ALTER TABLE scores ALTER COLUMN escalation SET NOT NULL;
ALTER TABLE scores ALTER COLUMN auto_failed SET NOT NULL;
ALTER TABLE scores ALTER COLUMN scored_at SET NOT NULL;
