-- 009: what a conversation's reading noticed, who runs a run (so a killed one is marked interrupted by the next
-- start), and the before/after summary of a rescore.
--
-- conversations.warnings: [text, ...] noticed without refusing the input (a time without a zone read in the
-- configured one, damaged audio packets skipped, a sidecar key that looks like a typo); the page shows them.
ALTER TABLE conversations ADD COLUMN warnings JSON;

-- runs.host, pid, pid_started: the process running it (pid_started: its start time as the OS gives it, so a
-- reused pid is told apart); heartbeat_at: the last write of the run; summary: a rescore's before/after summary.
ALTER TABLE runs ADD COLUMN host VARCHAR;
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE runs ADD COLUMN pid_started VARCHAR;
ALTER TABLE runs ADD COLUMN heartbeat_at TIMESTAMPTZ;
ALTER TABLE runs ADD COLUMN summary JSON;

-- The current score of every conversation when a rescore started (kept until it finishes, so a resumed rescore
-- compares with the same "before"); append-only, no keys, so it works on DuckLake too.
CREATE TABLE rescore_baseline (
    run_id          VARCHAR NOT NULL,
    conversation_id VARCHAR NOT NULL,
    total           DOUBLE NOT NULL,
    flagged         BOOLEAN NOT NULL
);
