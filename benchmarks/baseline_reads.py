"""The read side as it was before migration 006, kept as the benchmark's baseline: the same SQL the old
``qa.store.queries`` ran (``conversations``, ``conversation``, ``reviews``, ``stats``, ``rule_hits``), over the old
view definitions (``latest_scores`` picking the current rule set version with a window function on every read),
recreated as TEMP views per connection so they shadow today's views on the same file.

Copied from ``qa/store/queries.py`` at the commit before the current-results tables; not used by the package.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from qa.store import open_store

MEMORY_LIMIT = "6GB"  # a shared machine: the old way spills or fails beyond this

OLD_VIEWS = (
    """CREATE OR REPLACE TEMP VIEW latest_scores AS
    SELECT * EXCLUDE (rn) FROM (
        SELECT s.*, row_number() OVER (PARTITION BY conversation_id ORDER BY scored_at DESC, ruleset_version) AS rn
        FROM scores s
    ) WHERE rn = 1""",
    """CREATE OR REPLACE TEMP VIEW latest_findings AS
    SELECT f.*,
           f.rule_id || '@' || coalesce(f.utterance_idx::VARCHAR, '-') || '@' || printf('%.1f', f.start_s)
               AS finding_key
    FROM findings f
    JOIN latest_scores s USING (conversation_id, ruleset_version)""",
    """CREATE OR REPLACE TEMP VIEW reviewed_findings AS
    SELECT f.conversation_id, f.finding_key, f.rule_id, f.category, f.kind, f.severity, f.speaker, f.start_s, f.end_s,
           f.quote, f.message, f.utterance_idx, f.details, f.ruleset_version,
           c.channel, c.team, c.operator_id, c.started_at, s.total, s.flagged, s.escalation,
           r.verdict, r.comment AS review_comment, r.reviewer, r.created_at AS reviewed_at
    FROM latest_findings f
    JOIN conversations c USING (conversation_id)
    JOIN latest_scores s USING (conversation_id)
    LEFT JOIN latest_reviews r ON r.conversation_id = f.conversation_id AND r.finding_key = f.finding_key""",
)


@contextmanager
def _old_connection(db: str | Path) -> Iterator[Any]:
    with open_store(db).connect(read_only=True) as con:
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")  # the old views hold every score's details in memory
        for sql in OLD_VIEWS:
            con.execute(sql)
        yield con


def run_queries(db: str | Path, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[tuple[list[str], list]]:
    out = []
    with _old_connection(db) as con:
        for sql, params in statements:
            cur = con.execute(sql, list(params))
            out.append(([d[0] for d in cur.description] if cur.description else [], cur.fetchall()))
    return out


def query(db: str | Path, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple]]:
    return run_queries(db, [(sql, params)])[0]


SEVERITY_ORDER = ("CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 "
                  "ELSE 4 END")


@dataclass(frozen=True)
class Filters:
    """What a team lead narrows conversations or findings down to. ``None`` means no filter."""

    since: datetime | None = None  # conversation day (start, else scoring time) >= since
    until: datetime | None = None  # ... < until
    team: str | None = None
    operator: str | None = None
    rule: str | None = None  # has a current finding of this rule
    category: str | None = None  # has a current finding of this category
    channel: str | None = None  # call | chat
    min_score: float | None = None
    max_score: float | None = None
    flagged: bool | None = True  # True: flagged only; None: all
    verdict: str | None = None  # findings: confirmed | false_positive | disputed | unreviewed | not_false_positive
    conversation_id: str | None = None


def _conversation_where(f: Filters, alias: str = "v") -> tuple[str, list[Any]]:
    """WHERE clause over a row source with conversation columns (``started_at``, ``scored_at``, ``total``…)."""
    a = alias
    clauses = [
        f"(?::TIMESTAMPTZ IS NULL OR coalesce({a}.started_at, {a}.scored_at) >= ?::TIMESTAMPTZ)",
        f"(?::TIMESTAMPTZ IS NULL OR coalesce({a}.started_at, {a}.scored_at) < ?::TIMESTAMPTZ)",
        f"(?::VARCHAR IS NULL OR {a}.team = ?::VARCHAR)",
        f"(?::VARCHAR IS NULL OR {a}.operator_id = ?::VARCHAR)",
        f"(?::VARCHAR IS NULL OR {a}.channel = ?::VARCHAR)",
        f"(?::DOUBLE IS NULL OR {a}.total >= ?::DOUBLE)",
        f"(?::DOUBLE IS NULL OR {a}.total <= ?::DOUBLE)",
        f"(?::BOOLEAN IS NULL OR {a}.flagged = ?::BOOLEAN)",
        f"(?::VARCHAR IS NULL OR {a}.conversation_id = ?::VARCHAR)",
        f"(?::VARCHAR IS NULL OR EXISTS (SELECT 1 FROM latest_findings l WHERE l.conversation_id = {a}.conversation_id"
        " AND l.rule_id = ?::VARCHAR))",
        f"(?::VARCHAR IS NULL OR EXISTS (SELECT 1 FROM latest_findings l WHERE l.conversation_id = {a}.conversation_id"
        " AND l.category = ?::VARCHAR))",
    ]
    values = [f.since, f.until, f.team, f.operator, f.channel, f.min_score, f.max_score, f.flagged,
              f.conversation_id, f.rule, f.category]
    params = [v for value in values for v in (value, value)]
    return " AND ".join(clauses), params


_CONVERSATIONS = f"""
    SELECT c.conversation_id, c.channel, c.team, c.operator_id, c.started_at, c.duration_s, c.source_path,
           c.speaker_mode, s.total, s.passed, s.flagged, s.escalation, s.auto_failed, s.reasons, s.scored_at,
           s.ruleset_version, coalesce(fa.findings, 0) AS findings, fa.rules, fa.top_quote,
           coalesce(rv.reviews, 0) AS reviews
    FROM latest_scores s JOIN conversations c USING (conversation_id)
    LEFT JOIN (SELECT conversation_id, count(*) AS findings,
                      string_agg(DISTINCT rule_id, ', ' ORDER BY rule_id) AS rules,
                      first(quote ORDER BY {SEVERITY_ORDER}, start_s) AS top_quote
               FROM latest_findings GROUP BY conversation_id) fa USING (conversation_id)
    LEFT JOIN (SELECT conversation_id, count(*) AS reviews FROM latest_reviews GROUP BY conversation_id) rv
           USING (conversation_id)
"""

# Sortable columns of the conversation list: public name -> SQL expression.
SORT_COLUMNS = {
    "priority": "(CASE WHEN v.escalation THEN 0 ELSE 1000 END + v.total)",  # escalations first, then worst score
    "started_at": "coalesce(v.started_at, v.scored_at)",
    "score": "v.total",
    "team": "v.team",
    "operator": "v.operator_id",
    "channel": "v.channel",
    "findings": "v.findings",
    "duration": "v.duration_s",
    "id": "v.conversation_id",
    "escalation": "v.escalation",
}


@dataclass(frozen=True)
class Page:
    """One page of rows and the total number of rows that matched."""

    columns: list[str]
    rows: list[tuple]
    total: int
    limit: int
    offset: int

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


# The columns filters and sorting need, without the wide ones: a page is picked from these first.
_NARROW = """
    SELECT c.conversation_id, c.channel, c.team, c.operator_id, c.started_at, c.duration_s, s.total, s.flagged,
           s.escalation, s.scored_at, {findings} AS findings
    FROM latest_scores s JOIN conversations c USING (conversation_id)
"""
_FINDINGS_COUNT = "(SELECT count(*) FROM latest_findings l WHERE l.conversation_id = c.conversation_id)"


def conversations(db: str | Path, filters: Filters = Filters(), sort: str = "score", descending: bool = False,
                  limit: int = 50, offset: int = 0) -> Page:
    """Conversations (flagged only by default) matching the filters, sorted and paginated.

    The page's ids are chosen over narrow columns, then only those rows get their rules, quotes and counts.
    """
    if sort not in SORT_COLUMNS:
        raise ValueError(f"sort must be one of {', '.join(SORT_COLUMNS)}, not {sort!r}")
    limit = max(1, min(int(limit), 1000))
    offset = max(0, int(offset))
    where, params = _conversation_where(filters)
    order = f"{SORT_COLUMNS[sort]} {'DESC' if descending else 'ASC'} NULLS LAST, v.conversation_id"
    narrow = _NARROW.format(findings=_FINDINGS_COUNT if sort == "findings" else "NULL")
    sql = f"""
        WITH page AS (
            SELECT v.conversation_id, count(*) OVER () AS _total, row_number() OVER (ORDER BY {order}) AS _position
            FROM ({narrow}) v WHERE {where} ORDER BY _position LIMIT ? OFFSET ?
        )
        SELECT v.*, page._total FROM page JOIN ({_CONVERSATIONS}) v USING (conversation_id) ORDER BY page._position
    """
    columns, rows = query(db, sql, [*params, limit, offset])
    total = rows[0][-1] if rows else _count(db, where, params)
    return Page(columns[:-1], [row[:-1] for row in rows], total, limit, offset)


def _count(db: str | Path, where: str, params: list[Any]) -> int:
    _, rows = query(db, f"SELECT count(*) FROM ({_NARROW.format(findings='NULL')}) v WHERE {where}", params)
    return rows[0][0]


def conversation(db: str | Path, conversation_id: str) -> dict[str, Any] | None:
    """Everything the conversation page shows: metadata, score, script checklist, metrics, turns, findings
    with their verdicts, and the conversation-level verdict. ``None`` when the id is unknown."""
    page = conversations(db, Filters(flagged=None, conversation_id=conversation_id), limit=1)
    if not page.rows:
        return None
    out = page.dicts()[0]
    detail, turns, found, verdict = run_queries(db, [
        ("SELECT details, metadata, transcription FROM latest_scores JOIN conversations USING (conversation_id) "
         "WHERE conversation_id = ?", [conversation_id]),
        ("SELECT idx, speaker, start_s, end_s, text, words FROM utterances WHERE conversation_id = ? ORDER BY idx",
         [conversation_id]),
        ("SELECT finding_key, rule_id, category, kind, severity, speaker, start_s, end_s, quote, message, "
         "utterance_idx, details, verdict, review_comment, reviewer, reviewed_at FROM reviewed_findings "
         f"WHERE conversation_id = ? ORDER BY start_s, {SEVERITY_ORDER}", [conversation_id]),
        ("SELECT verdict, comment, reviewer, created_at FROM latest_reviews "
         "WHERE conversation_id = ? AND finding_key IS NULL", [conversation_id]),
    ])
    details, metadata, transcription = detail[1][0]
    details = json.loads(details) if details else {}
    out["script"] = details.get("script", [])
    out["metrics"] = details.get("metrics", {})
    out["metadata"] = json.loads(metadata) if metadata else {}
    out["transcription"] = json.loads(transcription) if transcription else {}
    out["reasons"] = json.loads(out["reasons"]) if out["reasons"] else []
    out["utterances"] = [dict(zip(turns[0], r, strict=True)) for r in turns[1]]
    for u in out["utterances"]:
        u["words"] = json.loads(u["words"]) if u["words"] else []
    out["findings"] = [dict(zip(found[0], r, strict=True)) for r in found[1]]
    for finding in out["findings"]:
        finding["details"] = json.loads(finding["details"]) if finding["details"] else {}
    out["review"] = dict(zip(verdict[0], verdict[1][0], strict=True)) if verdict[1] else None
    return out


def reviews(db: str | Path, conversation_id: str) -> list[dict[str, Any]]:
    """The whole verdict history of a conversation, newest first."""
    cols, rows = query(db, "SELECT review_id, finding_key, rule_id, verdict, comment, reviewer, created_at "
                           "FROM reviews WHERE conversation_id = ? ORDER BY created_at DESC", [conversation_id])
    return [dict(zip(cols, r, strict=True)) for r in rows]


# Groupings of `qa stats`: public name -> (SQL columns, SQL group expressions).
STATS_GROUPS = {
    "operator": ("v.team, v.operator_id", "v.team, v.operator_id"),
    "team": ("v.team", "v.team"),
    "day": ("qa_day(v.started_at, v.scored_at) AS day", "day"),
    "day-operator": ("qa_day(v.started_at, v.scored_at) AS day, v.team, v.operator_id", "day, v.team, v.operator_id"),
}


def stats(db: str | Path, by: str = "operator", filters: Filters = Filters(flagged=None)) -> tuple[list[str], list]:
    """Scores per operator, team or day over the filtered conversations."""
    if by not in STATS_GROUPS:
        raise ValueError(f"by must be one of {', '.join(STATS_GROUPS)}, not {by!r}")
    select, group = STATS_GROUPS[by]
    where, params = _conversation_where(filters)
    sql = f"""
        SELECT {select}, count(*) AS conversations, count(*) FILTER (WHERE v.flagged) AS flagged,
               round(100.0 * count(*) FILTER (WHERE v.flagged) / count(*), 1) AS flagged_pct,
               count(*) FILTER (WHERE v.escalation) AS escalations,
               count(*) FILTER (WHERE v.auto_failed) AS auto_failed,
               round(avg(v.total), 1) AS avg_score, min(v.total) AS min_score, sum(v.findings) AS findings
        FROM ({_CONVERSATIONS}) v WHERE {where}
        GROUP BY {group} ORDER BY {group}
    """
    return query(db, sql, params)


def rule_hits(db: str | Path, filters: Filters = Filters(flagged=None), limit: int = 20) -> tuple[list[str], list]:
    """The most frequent rules over the filtered conversations, with their precision from verdicts."""
    where, params = _conversation_where(filters)
    sql = f"""
        SELECT f.rule_id, any_value(f.category) AS category, count(*) AS hits,
               count(DISTINCT f.conversation_id) AS conversations,
               count(f.verdict) AS reviewed,
               count(*) FILTER (WHERE f.verdict = 'false_positive') AS false_positive
        FROM reviewed_findings f JOIN ({_CONVERSATIONS}) v USING (conversation_id)
        WHERE {where}
        GROUP BY f.rule_id ORDER BY hits DESC, f.rule_id LIMIT ?
    """
    return query(db, sql, [*params, int(limit)])
