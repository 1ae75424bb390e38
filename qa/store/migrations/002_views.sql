-- 002: views for the common questions of team leads.
-- The current score of each conversation: the one from the most recently scored rule set version.
CREATE VIEW latest_scores AS
SELECT * EXCLUDE (rn) FROM (
    SELECT s.*, row_number() OVER (PARTITION BY conversation_id ORDER BY scored_at DESC, ruleset_version) AS rn
    FROM scores s
) WHERE rn = 1;

-- Findings of the current scores.
CREATE VIEW latest_findings AS
SELECT f.* FROM findings f
JOIN latest_scores s USING (conversation_id, ruleset_version);

-- Flagged conversations with their reasons and metadata.
CREATE VIEW flagged_conversations AS
SELECT c.conversation_id, c.channel, c.operator_id, c.team, c.started_at, c.duration_s, c.source_path,
       s.total, s.passed, s.escalation, s.auto_failed, s.reasons, s.ruleset_version, s.scored_at
FROM latest_scores s JOIN conversations c USING (conversation_id)
WHERE s.flagged;
