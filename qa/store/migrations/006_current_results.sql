-- 006: the current results, kept at write time instead of picked by a window function on every read.
--
-- current_scores holds one row per conversation: its score from the most recently scored rule set version, the
-- conversation columns lists filter and sort on, and its current findings' count, rules and top quote.
-- current_findings holds the findings of those scores with their stable key, the conversation columns filters
-- read (so rule counts need no join), whether it is the first finding of its rule in the conversation (so
-- conversations per rule need no DISTINCT) and the verdict in force on it. Both are derived data: qa.store
-- rewrites the rows of every conversation it writes (DELETE + INSERT in the write transaction, see
-- qa.store.refresh_current), so nothing here relies on a key constraint. A hand edit of the base tables is
-- followed by qa.store.refresh_current.
CREATE TABLE current_scores (
    conversation_id VARCHAR NOT NULL,
    ruleset_version VARCHAR NOT NULL,
    total           DOUBLE NOT NULL,
    passed          BOOLEAN NOT NULL,
    flagged         BOOLEAN NOT NULL,
    escalation      BOOLEAN NOT NULL,
    auto_failed     BOOLEAN NOT NULL,
    reasons         JSON,
    details         JSON,
    scored_at       TIMESTAMPTZ NOT NULL,
    run_id          VARCHAR,
    channel         VARCHAR NOT NULL,
    team            VARCHAR,
    operator_id     VARCHAR,
    started_at      TIMESTAMPTZ,
    duration_s      DOUBLE,
    dated_at        TIMESTAMPTZ NOT NULL,  -- started_at, else scored_at: what --since/--until and `day` read
    findings        INTEGER NOT NULL,
    rules           VARCHAR,
    top_quote       VARCHAR
);

CREATE TABLE current_findings (
    conversation_id VARCHAR NOT NULL,
    ruleset_version VARCHAR NOT NULL,
    finding_idx     INTEGER NOT NULL,
    rule_id         VARCHAR NOT NULL,
    category        VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL,
    severity        VARCHAR NOT NULL,
    speaker         VARCHAR NOT NULL,
    start_s         DOUBLE NOT NULL,
    end_s           DOUBLE NOT NULL,
    quote           VARCHAR NOT NULL,
    message         VARCHAR,
    utterance_idx   INTEGER,
    details         JSON,
    finding_key     VARCHAR NOT NULL,
    channel         VARCHAR NOT NULL,
    team            VARCHAR,
    operator_id     VARCHAR,
    dated_at        TIMESTAMPTZ NOT NULL,
    total           DOUBLE NOT NULL,
    flagged         BOOLEAN NOT NULL,
    first_of_rule   BOOLEAN NOT NULL,
    verdict         VARCHAR            -- the latest verdict on this finding (qa.store.add_review keeps it)
);

-- Backfill from the stored scores (the same statements as qa.store.refresh_current, for every conversation),
-- inserted in date order so that date filters skip whole row groups.
INSERT INTO current_scores
WITH chosen_key AS (  -- ranked on narrow columns only: the wide details stream through the join below
    SELECT conversation_id, ruleset_version FROM scores
    QUALIFY row_number() OVER (PARTITION BY conversation_id ORDER BY scored_at DESC, ruleset_version) = 1
), chosen AS (
    SELECT s.* FROM scores s JOIN chosen_key k
    ON k.conversation_id = s.conversation_id AND k.ruleset_version = s.ruleset_version
), found AS (
    SELECT f.conversation_id, count(*) AS findings, string_agg(DISTINCT f.rule_id, ', ' ORDER BY f.rule_id) AS rules,
           first(f.quote ORDER BY CASE f.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2
                                  WHEN 'low' THEN 3 ELSE 4 END, f.start_s) AS top_quote
    FROM findings f JOIN chosen s ON s.conversation_id = f.conversation_id AND s.ruleset_version = f.ruleset_version
    GROUP BY f.conversation_id
)
SELECT s.conversation_id, s.ruleset_version, s.total, s.passed, s.flagged, s.escalation, s.auto_failed, s.reasons,
       s.details, s.scored_at, s.run_id, c.channel, c.team, c.operator_id, c.started_at, c.duration_s,
       coalesce(c.started_at, s.scored_at), coalesce(found.findings, 0), found.rules, found.top_quote
FROM chosen s JOIN conversations c ON c.conversation_id = s.conversation_id
LEFT JOIN found ON found.conversation_id = s.conversation_id
ORDER BY coalesce(c.started_at, s.scored_at), s.conversation_id;

INSERT INTO current_findings
WITH keyed AS (
    SELECT f.*, f.rule_id || '@' || coalesce(f.utterance_idx::VARCHAR, '-') || '@' || printf('%.1f', f.start_s)
               AS finding_key
    FROM findings f
)
SELECT f.*, s.channel, s.team, s.operator_id, s.dated_at, s.total, s.flagged,
       row_number() OVER (PARTITION BY f.conversation_id, f.rule_id ORDER BY f.finding_idx) = 1, r.verdict
FROM keyed f JOIN current_scores s ON s.conversation_id = f.conversation_id AND s.ruleset_version = f.ruleset_version
LEFT JOIN latest_reviews r ON r.conversation_id = f.conversation_id AND r.finding_key = f.finding_key
ORDER BY s.dated_at, f.conversation_id, f.finding_idx;

-- The old views, now on top of the current tables (same columns as before).
CREATE OR REPLACE VIEW latest_scores AS
SELECT conversation_id, ruleset_version, total, passed, flagged, escalation, auto_failed, reasons, details,
       scored_at, run_id
FROM current_scores;

CREATE OR REPLACE VIEW latest_findings AS
SELECT conversation_id, ruleset_version, finding_idx, rule_id, category, kind, severity, speaker, start_s, end_s,
       quote, message, utterance_idx, details, finding_key
FROM current_findings;

CREATE OR REPLACE VIEW flagged_conversations AS
SELECT s.conversation_id, s.channel, s.operator_id, s.team, s.started_at, s.duration_s, c.source_path,
       s.total, s.passed, s.escalation, s.auto_failed, s.reasons, s.ruleset_version, s.scored_at
FROM current_scores s JOIN conversations c ON c.conversation_id = s.conversation_id
WHERE s.flagged;

CREATE OR REPLACE VIEW reviewed_findings AS
SELECT f.conversation_id, f.finding_key, f.rule_id, f.category, f.kind, f.severity, f.speaker, f.start_s, f.end_s,
       f.quote, f.message, f.utterance_idx, f.details, f.ruleset_version,
       s.channel, s.team, s.operator_id, s.started_at, s.total, s.flagged, s.escalation,
       r.verdict, r.comment AS review_comment, r.reviewer, r.created_at AS reviewed_at
FROM current_findings f
JOIN current_scores s ON s.conversation_id = f.conversation_id
LEFT JOIN latest_reviews r ON r.conversation_id = f.conversation_id AND r.finding_key = f.finding_key;

-- Precision needs no join: current findings carry their verdict.
CREATE OR REPLACE VIEW rule_precision AS
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
FROM current_findings
GROUP BY rule_id;

-- `day` comes from qa_day, which qa.store.connect redefines on every connection in the configured time zone.
CREATE OR REPLACE VIEW daily_scores AS
SELECT qa_day(s.started_at, s.scored_at) AS day, s.team, s.operator_id,
       count(*) AS conversations,
       count(*) FILTER (WHERE s.flagged) AS flagged,
       count(*) FILTER (WHERE s.escalation) AS escalations,
       count(*) FILTER (WHERE s.auto_failed) AS auto_failed,
       round(avg(s.total), 1) AS avg_score,
       min(s.total) AS min_score
FROM current_scores s
GROUP BY ALL;

CREATE OR REPLACE VIEW daily_rule_hits AS
SELECT qa_day(f.dated_at, f.dated_at) AS day, f.team, f.operator_id, f.rule_id, f.category,
       count(*) AS hits, count(*) FILTER (WHERE f.first_of_rule) AS conversations
FROM current_findings f
GROUP BY ALL;

CREATE OR REPLACE VIEW escalations AS
SELECT f.conversation_id, s.channel, s.team, s.operator_id, s.started_at, f.rule_id, f.severity, f.speaker,
       f.start_s, f.end_s, f.quote, f.details ->> 'matched' AS matched, f.finding_key
FROM current_findings f JOIN current_scores s ON s.conversation_id = f.conversation_id
WHERE f.category = 'escalation';
