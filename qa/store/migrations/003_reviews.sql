-- 003: supervisor verdicts, stable finding keys and the views team leads, trainers and rule authors use.

-- A finding's key survives re-scoring: the same rule hitting the same turn at the same time under a newer
-- rule set version is the same finding, so its verdict carries over.
CREATE OR REPLACE VIEW latest_findings AS
SELECT f.*,
       f.rule_id || '@' || coalesce(f.utterance_idx::VARCHAR, '-') || '@' || printf('%.1f', f.start_s) AS finding_key
FROM findings f
JOIN latest_scores s USING (conversation_id, ruleset_version);

-- One row per verdict ever given (history is kept); finding_key NULL means a verdict on the whole conversation.
CREATE TABLE reviews (
    review_id       VARCHAR PRIMARY KEY,
    conversation_id VARCHAR NOT NULL,
    finding_key     VARCHAR,
    rule_id         VARCHAR,
    verdict         VARCHAR NOT NULL CHECK (verdict IN ('confirmed', 'false_positive', 'disputed')),
    comment         VARCHAR,
    reviewer        VARCHAR NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX reviews_conversation ON reviews (conversation_id);

-- The verdict in force for each finding or conversation: the most recent one.
CREATE VIEW latest_reviews AS
SELECT * EXCLUDE (rn) FROM (
    SELECT r.*, row_number() OVER (PARTITION BY conversation_id, coalesce(finding_key, '')
                                   ORDER BY created_at DESC, review_id DESC) AS rn
    FROM reviews r
) WHERE rn = 1;

-- Current findings with their verdict (NULL when nobody has reviewed them) and the conversation's metadata.
CREATE VIEW reviewed_findings AS
SELECT f.conversation_id, f.finding_key, f.rule_id, f.category, f.kind, f.severity, f.speaker, f.start_s, f.end_s,
       f.quote, f.message, f.utterance_idx, f.details, f.ruleset_version,
       c.channel, c.team, c.operator_id, c.started_at, s.total, s.flagged, s.escalation,
       r.verdict, r.comment AS review_comment, r.reviewer, r.created_at AS reviewed_at
FROM latest_findings f
JOIN conversations c USING (conversation_id)
JOIN latest_scores s USING (conversation_id)
LEFT JOIN latest_reviews r ON r.conversation_id = f.conversation_id AND r.finding_key = f.finding_key;

-- Rule precision for rule authors: how many current findings of each rule were reviewed and how many of
-- those supervisors marked false positive. Noisy rules have a high false_positive_share.
CREATE VIEW rule_precision AS
SELECT rule_id, any_value(category) AS category,
       count(*) AS findings,
       count(verdict) AS reviewed,
       count(*) FILTER (WHERE verdict = 'confirmed') AS confirmed,
       count(*) FILTER (WHERE verdict = 'false_positive') AS false_positive,
       count(*) FILTER (WHERE verdict = 'disputed') AS disputed,
       round(count(*) FILTER (WHERE verdict = 'false_positive') / nullif(count(verdict), 0), 3)
           AS false_positive_share,
       round(count(*) FILTER (WHERE verdict = 'confirmed')
             / nullif(count(*) FILTER (WHERE verdict IN ('confirmed', 'false_positive')), 0), 3) AS precision
FROM reviewed_findings
GROUP BY rule_id;

-- The day a conversation belongs to: its start (Moscow time), else when it was scored.
CREATE MACRO qa_day(started_at, scored_at) AS
    CAST(timezone('Europe/Moscow', coalesce(started_at, scored_at)) AS DATE);

-- Scores per operator, team and day.
CREATE VIEW daily_scores AS
SELECT qa_day(c.started_at, s.scored_at) AS day, c.team, c.operator_id,
       count(*) AS conversations,
       count(*) FILTER (WHERE s.flagged) AS flagged,
       count(*) FILTER (WHERE s.escalation) AS escalations,
       count(*) FILTER (WHERE s.auto_failed) AS auto_failed,
       round(avg(s.total), 1) AS avg_score,
       min(s.total) AS min_score
FROM latest_scores s JOIN conversations c USING (conversation_id)
GROUP BY ALL;

-- Rule hits per day, team and operator (for counts and trends).
CREATE VIEW daily_rule_hits AS
SELECT qa_day(c.started_at, s.scored_at) AS day, c.team, c.operator_id, f.rule_id, f.category,
       count(*) AS hits, count(DISTINCT f.conversation_id) AS conversations
FROM latest_findings f
JOIN latest_scores s USING (conversation_id)
JOIN conversations c USING (conversation_id)
GROUP BY ALL;

-- Escalations with the client's own words.
CREATE VIEW escalations AS
SELECT f.conversation_id, c.channel, c.team, c.operator_id, c.started_at, f.rule_id, f.severity, f.speaker,
       f.start_s, f.end_s, f.quote, f.details ->> 'matched' AS matched, f.finding_key
FROM latest_findings f JOIN conversations c USING (conversation_id)
WHERE f.category = 'escalation';
