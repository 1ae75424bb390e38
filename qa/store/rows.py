"""Rows of the base tables built from the records, and records rebuilt from rows: the one place that knows how a
conversation, its utterances (words and tokens as compact JSON) and its scores are laid out in the store."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import datetime
from functools import cache
from itertools import starmap
from typing import Any

import duckdb
import pyarrow as pa

from qa.record_maker import maker
from qa.records import Conversation, ScoredConversation, Token, Utterance, Word

TOKEN_FIELDS = tuple(f.name for f in fields(Token))
# The ``conversations`` columns that :func:`conversations_from_rows` reads, in order.
CONVERSATION_COLUMNS = ("conversation_id, channel, source_path, content_sha256, operator_id, team, started_at, "
                        "duration_s, speaker_mode, metadata, transcription")


def tokens_json(tokens: Sequence[Token]) -> str:
    """Tokens as compact JSON: one array per token in :class:`Token` field order."""
    return json.dumps([[getattr(t, name) for name in TOKEN_FIELDS] for t in tokens], ensure_ascii=False,
                      separators=(",", ":"))


_token = maker(Token)  # built slot by slot: a rescore reads a thousand tokens per conversation


def tokens_from_json(text: str) -> tuple[Token, ...]:
    """The tokens :func:`tokens_json` wrote."""
    return tuple(starmap(_token, json.loads(text)))


def to_json(value: Any) -> str:
    """A JSON column's text (non-ASCII kept, anything else as its string)."""
    return json.dumps(value, ensure_ascii=False, default=str)


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    """Bulk insert rows (dicts with the table's column names) through an Arrow table."""
    if not rows:
        return
    columns = list(rows[0])
    arrow = pa.table({c: [r[c] for r in rows] for c in columns})
    con.register("_bulk_rows", arrow)
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM _bulk_rows")
    finally:
        con.unregister("_bulk_rows")


def conversation_row(c: Conversation, run_id: str, now: datetime) -> dict[str, Any]:
    """The ``conversations`` row of a conversation stored by ``run_id``."""
    return {
        "conversation_id": c.conversation_id, "channel": c.channel, "source_path": c.source_path,
        "content_sha256": c.content_sha256, "operator_id": c.operator_id, "team": c.team,
        "started_at": c.started_at, "duration_s": c.duration_s, "speaker_mode": c.speaker_mode,
        "metadata": to_json(c.metadata), "transcription": to_json(c.transcription), "ingested_at": now,
        "run_id": run_id, "warnings": to_json(c.warnings) if c.warnings else None,
    }


def utterance_rows(c: Conversation) -> list[dict[str, Any]]:
    """The ``utterances`` rows of a conversation (tokens kept with their analysis version when analysed)."""
    version = _analysis_version() if any(u.tokens for u in c.utterances) else None  # None: not analysed
    return [
        {"conversation_id": c.conversation_id, "idx": i, "speaker": u.speaker, "start_s": u.start,
         "end_s": u.end, "text": u.text, "lemmas": u.lemmas,
         "words": to_json([_word_row(w) for w in u.words]) if u.words else None,
         "tokens": tokens_json(u.tokens) if version else None, "analysis_version": version}
        for i, u in enumerate(c.utterances)
    ]


def _word_row(w: Word) -> list:
    """A word as stored: ``[text, start, end, probability]``, plus the speaker confidence where there is one."""
    row = [w.text, w.start, w.end, w.probability]
    return row if w.speaker_confidence is None else [*row, w.speaker_confidence]


def _analysis_version() -> str:
    from qa.text.analysis_version import analysis_version

    return analysis_version()


def _flat_dict(record: Any) -> dict[str, Any]:
    """A dataclass of plain fields as a dict (``asdict`` without its deep copy: a rescore writes millions)."""
    return {name: getattr(record, name) for name in _field_names(type(record))}


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def score_rows(s: ScoredConversation, run_id: str, now: datetime) -> tuple[list[dict], list[dict]]:
    """The ``findings`` rows and the ``scores`` row of a scored conversation."""
    cid = s.conversation.conversation_id
    findings = [
        {"conversation_id": cid, "ruleset_version": s.ruleset_version, "finding_idx": i, "rule_id": f.rule_id,
         "category": f.category, "kind": f.kind, "severity": f.severity, "speaker": f.speaker,
         "start_s": f.start_s, "end_s": f.end_s, "quote": f.quote, "message": f.message,
         "utterance_idx": f.utterance_idx, "details": to_json(f.details)}
        for i, f in enumerate(s.findings)
    ]
    details = {"script": [_flat_dict(step) for step in s.steps], "metrics": s.metrics,
               "unverified": {"steps": s.score.unverified_steps, "findings": s.score.unverified_findings}}
    score = {
        "conversation_id": cid, "ruleset_version": s.ruleset_version, "total": s.score.total,
        "passed": s.score.passed, "flagged": s.score.flagged, "escalation": s.score.escalation,
        "auto_failed": s.score.auto_failed, "reasons": to_json(list(s.score.reasons)), "details": to_json(details),
        "scored_at": now, "run_id": run_id,
    }
    return findings, [score]


def conversations_from_rows(convs: Sequence[tuple], utts: Sequence[tuple],
                            tokens: Callable[[str], tuple] | None = None) -> list[Conversation]:
    """Conversations from ``conversations`` rows (the columns :data:`CONVERSATION_COLUMNS`) and their
    ``utterances`` rows ``(conversation_id, speaker, start_s, end_s, text, words[, tokens])`` in turn order;
    ``tokens`` reads a stored tokens value (rows without one keep no tokens)."""
    by_id: dict[str, list[Utterance]] = {}
    for cid, speaker, start, end, text, words, *stored in utts:
        ws = tuple(Word(*w[:5]) for w in json.loads(words)) if words else ()
        toks = tokens(stored[0]) if tokens and stored and stored[0] else ()
        by_id.setdefault(cid, []).append(Utterance(speaker, start, end, text, ws, toks))
    return [
        Conversation(
            conversation_id=row[0], channel=row[1], source_path=row[2], content_sha256=row[3],
            operator_id=row[4], team=row[5], started_at=row[6], duration_s=row[7], speaker_mode=row[8],
            metadata=json.loads(row[9]) if row[9] else {}, transcription=json.loads(row[10]) if row[10] else {},
            utterances=by_id.get(row[0], []),
        )
        for row in convs
    ]
