-- 001: the core tables of the nightly flow.
CREATE TABLE conversations (
    conversation_id VARCHAR PRIMARY KEY,
    channel         VARCHAR NOT NULL CHECK (channel IN ('call', 'chat')),
    source_path     VARCHAR NOT NULL,
    content_sha256  VARCHAR NOT NULL,
    operator_id     VARCHAR,
    team            VARCHAR,
    started_at      TIMESTAMPTZ,
    duration_s      DOUBLE,
    speaker_mode    VARCHAR,          -- stereo | mono | chat | transcript
    metadata        JSON,
    transcription   JSON,             -- ASR options and stats (calls only)
    ingested_at     TIMESTAMPTZ NOT NULL,
    run_id          VARCHAR
);
CREATE INDEX conversations_sha ON conversations (content_sha256);

CREATE TABLE utterances (
    conversation_id VARCHAR NOT NULL,
    idx             INTEGER NOT NULL,
    speaker         VARCHAR NOT NULL,
    start_s         DOUBLE NOT NULL,
    end_s           DOUBLE NOT NULL,
    text            VARCHAR NOT NULL,
    lemmas          VARCHAR NOT NULL,
    words           JSON,             -- [[text, start, end, probability], ...] where the ASR gave words
    PRIMARY KEY (conversation_id, idx)
);

CREATE TABLE findings (
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
    PRIMARY KEY (conversation_id, ruleset_version, finding_idx)
);

CREATE TABLE scores (
    conversation_id VARCHAR NOT NULL,
    ruleset_version VARCHAR NOT NULL,
    total           DOUBLE NOT NULL,
    passed          BOOLEAN NOT NULL,
    flagged         BOOLEAN NOT NULL,
    escalation      BOOLEAN NOT NULL,
    auto_failed     BOOLEAN NOT NULL,
    reasons         JSON,
    details         JSON,             -- {"script": [...steps], "metrics": {...}}
    scored_at       TIMESTAMPTZ NOT NULL,
    run_id          VARCHAR,
    PRIMARY KEY (conversation_id, ruleset_version)
);

CREATE TABLE runs (
    run_id          VARCHAR PRIMARY KEY,
    kind            VARCHAR NOT NULL,  -- run | rescore
    started_at      TIMESTAMPTZ NOT NULL,
    ended_at        TIMESTAMPTZ,
    status          VARCHAR NOT NULL,  -- running | completed | failed
    inbox           VARCHAR,
    discovered      INTEGER,
    skipped         INTEGER,
    processed       INTEGER,
    failed          INTEGER,
    flagged         INTEGER,
    ruleset_version VARCHAR,
    rules_dir       VARCHAR,
    model           VARCHAR,
    settings        JSON
);

CREATE TABLE failures (
    source_path     VARCHAR NOT NULL,
    run_id          VARCHAR NOT NULL,
    stage           VARCHAR NOT NULL,
    error           VARCHAR NOT NULL,
    content_sha256  VARCHAR,
    failed_at       TIMESTAMPTZ NOT NULL
);
