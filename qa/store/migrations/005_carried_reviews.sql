-- 005: a verdict carried over to a finding whose key changed (a rule edit shifted its start time) remembers the
-- key it was given on.
ALTER TABLE reviews ADD COLUMN carried_from VARCHAR;

-- When `qa purge` removed the conversation's audio path, transcript and quotes (scores and aggregates stay).
ALTER TABLE conversations ADD COLUMN purged_at TIMESTAMPTZ;
