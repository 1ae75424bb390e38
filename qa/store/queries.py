"""The read side for team leads, trainers and the review page: filtered lists, statistics, rule precision.

Every filter is a bound parameter; the only SQL text chosen from user input is a column or grouping name,
and those are looked up in fixed tables here, never pasted in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from qa.store.base import Store

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
    """WHERE clause over ``current_scores`` (as ``alias``): only the filters that are set, so the planner sees
    plain comparisons it can push into the scan (zone maps) instead of ``? IS NULL OR ...``."""
    a = alias
    checks = [
        (f.since, f"{a}.dated_at >= ?::TIMESTAMPTZ"),
        (f.until, f"{a}.dated_at < ?::TIMESTAMPTZ"),
        (f.team, f"{a}.team = ?::VARCHAR"),
        (f.operator, f"{a}.operator_id = ?::VARCHAR"),
        (f.channel, f"{a}.channel = ?::VARCHAR"),
        (f.min_score, f"{a}.total >= ?::DOUBLE"),
        (f.max_score, f"{a}.total <= ?::DOUBLE"),
        (f.flagged, f"{a}.flagged = ?::BOOLEAN"),
        (f.conversation_id, f"{a}.conversation_id = ?::VARCHAR"),
        (f.rule, f"{a}.conversation_id IN (SELECT l.conversation_id FROM current_findings l "
                 "WHERE l.rule_id = ?::VARCHAR)"),
        (f.category, f"{a}.conversation_id IN (SELECT l.conversation_id FROM current_findings l "
                     "WHERE l.category = ?::VARCHAR)"),
    ]
    active = [(value, clause) for value, clause in checks if value is not None]
    if not active:
        return "TRUE", []
    return " AND ".join(clause for _, clause in active), [value for value, _ in active]


def conversation_where(f: Filters, alias: str = "v") -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) of ``f`` over ``current_scores`` (or ``current_findings``, which
    carries the same conversation columns) as ``alias``."""
    return _conversation_where(f, alias)


# The columns of a conversation list row; `{where}` narrows current_scores `s` (e.g. to one page of ids).
_CONVERSATIONS = """
    SELECT s.conversation_id, s.channel, s.team, s.operator_id, s.started_at, s.duration_s, c.source_path,
           c.speaker_mode, s.total, s.passed, s.flagged, s.escalation, s.auto_failed, s.reasons, s.scored_at,
           s.ruleset_version, s.findings, s.rules, s.top_quote,
           coalesce(rv.reviews, 0) AS reviews
    FROM current_scores s JOIN conversations c ON c.conversation_id = s.conversation_id
    LEFT JOIN (SELECT conversation_id, count(*) AS reviews FROM latest_reviews GROUP BY conversation_id) rv
           ON rv.conversation_id = s.conversation_id
    WHERE {where}
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


def _order(sort: str, descending: bool) -> str:
    return f"{SORT_COLUMNS[sort]} {'DESC' if descending else 'ASC'} NULLS LAST, v.conversation_id"


def _id_list(ids: Sequence[str], column: str) -> tuple[str, list[Any]]:
    """``column IN (?, ?, …)``: a literal list the scan can check against zone maps, unlike a join."""
    return f"{column} IN ({', '.join('?' * len(ids))})", list(ids)


def conversations(store: Store, filters: Filters = Filters(), sort: str = "score", descending: bool = False,
                  limit: int = 50, offset: int = 0) -> Page:
    """Conversations (flagged only by default) matching the filters, sorted and paginated.

    On one connection: the page's ids by a top-N over narrow columns of ``current_scores`` and the total count,
    then only those ids widened with paths and verdict counts.
    """
    if sort not in SORT_COLUMNS:
        raise ValueError(f"sort must be one of {', '.join(SORT_COLUMNS)}, not {sort!r}")
    limit = max(1, min(int(limit), 1000))
    offset = max(0, int(offset))
    where, params = _conversation_where(filters)
    order = _order(sort, descending)
    with store.connect(read_only=True) as con:
        ids = [r[0] for r in con.execute(f"SELECT v.conversation_id FROM current_scores v WHERE {where} "
                                         f"ORDER BY {order} LIMIT ? OFFSET ?", [*params, limit, offset]).fetchall()]
        total = con.execute(f"SELECT count(*) FROM current_scores v WHERE {where}", params).fetchone()[0]
        columns, rows = _widen(con, ids, order)
    return Page(columns, rows, total, limit, offset)


def _widen(con: Any, ids: Sequence[str], order: str = "v.conversation_id") -> tuple[list[str], list[tuple]]:
    """The list columns of these conversations, in ``order``."""
    if not ids:
        cur = con.execute(f"SELECT * FROM ({_CONVERSATIONS.format(where='FALSE')}) v")
        return [d[0] for d in cur.description], []
    in_scores, values = _id_list(ids, "s.conversation_id")
    in_conversations, _ = _id_list(ids, "c.conversation_id")
    in_reviews, _ = _id_list(ids, "conversation_id")
    sql = _CONVERSATIONS.replace("FROM latest_reviews GROUP BY", f"FROM latest_reviews WHERE {in_reviews} GROUP BY")
    cur = con.execute(f"SELECT v.* FROM ({sql.format(where=f'{in_scores} AND {in_conversations}')}) v "
                      f"ORDER BY {order}", values * 3)
    return [d[0] for d in cur.description], cur.fetchall()


def _fetch(con: Any, sql: str, params: list[Any]) -> tuple[list[str], list[tuple]]:
    cur = con.execute(sql, params)
    return [d[0] for d in cur.description], cur.fetchall()


def conversation(store: Store, conversation_id: str) -> dict[str, Any] | None:
    """Everything the conversation page shows: metadata, score, script checklist, metrics, turns, findings
    with their verdicts, and the conversation-level verdict. ``None`` when the id is unknown."""
    with store.connect(read_only=True) as con:
        row = _widen(con, [conversation_id])
        detail, turns, found, verdict = (_fetch(con, sql, [conversation_id]) for sql in (
            "SELECT s.details, c.metadata, c.transcription, c.warnings FROM current_scores s "
            "JOIN conversations c ON c.conversation_id = s.conversation_id "
            "WHERE s.conversation_id = $1 AND c.conversation_id = $1",
            "SELECT idx, speaker, start_s, end_s, text, words FROM utterances WHERE conversation_id = $1 ORDER BY idx",
            "SELECT f.finding_key, f.rule_id, f.category, f.kind, f.severity, f.speaker, f.start_s, f.end_s, "
            "f.quote, f.message, f.utterance_idx, f.details, r.verdict, r.comment AS review_comment, r.reviewer, "
            "r.created_at AS reviewed_at FROM current_findings f LEFT JOIN "
            "(SELECT * FROM latest_reviews WHERE conversation_id = $1) r "
            "ON r.conversation_id = f.conversation_id AND r.finding_key = f.finding_key "
            f"WHERE f.conversation_id = $1 ORDER BY f.start_s, {SEVERITY_ORDER.replace('severity', 'f.severity')}",
            "SELECT verdict, comment, reviewer, created_at FROM latest_reviews "
            "WHERE conversation_id = $1 AND finding_key IS NULL",
        ))
    if not row[1]:
        return None
    out = dict(zip(row[0], row[1][0], strict=True))
    details, metadata, transcription, warnings = detail[1][0]
    details = json.loads(details) if details else {}
    out["script"] = details.get("script", [])
    out["metrics"] = details.get("metrics", {})
    out["unverified"] = details.get("unverified") or {"steps": 0, "findings": 0}
    out["metadata"] = json.loads(metadata) if metadata else {}
    out["transcription"] = json.loads(transcription) if transcription else {}
    out["warnings"] = json.loads(warnings) if warnings else []
    out["reasons"] = json.loads(out["reasons"]) if out["reasons"] else []
    out["utterances"] = [dict(zip(turns[0], r, strict=True)) for r in turns[1]]
    for u in out["utterances"]:
        u["words"] = json.loads(u["words"]) if u["words"] else []
    out["findings"] = [dict(zip(found[0], r, strict=True)) for r in found[1]]
    for finding in out["findings"]:
        finding["details"] = json.loads(finding["details"]) if finding["details"] else {}
    out["review"] = dict(zip(verdict[0], verdict[1][0], strict=True)) if verdict[1] else None
    return out


def reviews(store: Store, conversation_id: str) -> list[dict[str, Any]]:
    """The whole verdict history of a conversation, newest first."""
    cols, rows = store.query("SELECT review_id, finding_key, rule_id, verdict, comment, reviewer, created_at "
                           "FROM reviews WHERE conversation_id = ? ORDER BY created_at DESC", [conversation_id])
    return [dict(zip(cols, r, strict=True)) for r in rows]


# Groupings of `qa stats`: public name -> (SQL columns, SQL group expressions).
STATS_GROUPS = {
    "operator": ("v.team, v.operator_id", "v.team, v.operator_id"),
    "team": ("v.team", "v.team"),
    "day": ("qa_day(v.started_at, v.scored_at) AS day", "day"),
    "day-operator": ("qa_day(v.started_at, v.scored_at) AS day, v.team, v.operator_id", "day, v.team, v.operator_id"),
}


def stats(store: Store, by: str = "operator", filters: Filters = Filters(flagged=None)) -> tuple[list[str], list]:
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
        FROM current_scores v WHERE {where}
        GROUP BY {group} ORDER BY {group}
    """
    return store.query(sql, params)


def rule_hits(store: Store, filters: Filters = Filters(flagged=None), limit: int = 20) -> tuple[list[str], list]:
    """The most frequent rules over the filtered conversations, with their precision from verdicts."""
    where, params = _conversation_where(filters, alias="f")  # current findings carry the conversation columns
    sql = f"""
        SELECT f.rule_id, any_value(f.category) AS category, count(*) AS hits,
               count(*) FILTER (WHERE f.first_of_rule) AS conversations,
               count(f.verdict) AS reviewed,
               count(*) FILTER (WHERE f.verdict = 'false_positive') AS false_positive
        FROM current_findings f WHERE {where}
        GROUP BY f.rule_id ORDER BY hits DESC, f.rule_id LIMIT ?
    """
    return store.query(sql, [*params, int(limit)])


def daily_trend(store: Store, filters: Filters = Filters(flagged=None)) -> tuple[list[str], list]:
    """Per day: conversations, flagged, average score, findings."""
    return stats(store, "day", filters)


def score_histogram(store: Store, filters: Filters = Filters(flagged=None), bucket: int = 10) -> list[int]:
    """Counts of conversations per score bucket (0–9, 10–19, …, 90–100)."""
    where, params = _conversation_where(filters)
    _, rows = store.query(f"SELECT least(floor(v.total / ?)::INTEGER, ?) AS b, count(*) FROM current_scores v "
                        f"WHERE {where} GROUP BY b", [bucket, 100 // bucket - 1, *params])
    counts = [0] * (100 // bucket)
    for b, n in rows:
        counts[int(b)] = n
    return counts


def rule_precision(store: Store) -> tuple[list[str], list]:
    """Per rule: current findings, how many were reviewed, confirmed, false positive; noisiest first."""
    return store.query("SELECT * FROM rule_precision ORDER BY false_positive_share DESC NULLS LAST, findings DESC, "
                     "rule_id")


def filter_options(store: Store) -> dict[str, list[str]]:
    """Distinct teams, operators, rules and categories, for filter menus."""
    menus = {
        "teams": "SELECT DISTINCT team FROM conversations WHERE team IS NOT NULL ORDER BY 1",
        "operators": "SELECT DISTINCT operator_id FROM conversations WHERE operator_id IS NOT NULL ORDER BY 1",
        "rules": "SELECT DISTINCT rule_id FROM current_findings ORDER BY 1",
        "categories": "SELECT DISTINCT category FROM current_findings ORDER BY 1",
    }
    results = store.run_queries([(sql, []) for sql in menus.values()])
    return {key: [r[0] for r in rows] for key, (_, rows) in zip(menus, results, strict=True)}


def findings(store: Store, filters: Filters = Filters(flagged=None), limit: int = 100,
             coaching: bool = False) -> list[dict[str, Any]]:
    """Current findings (with verdicts) of the filtered conversations: by rule, most severe first within each.

    ``coaching``: the trainer's pick instead: the operator's behaviour first (findings on the client's words, such
    as escalation triggers, after all others), and the rules taken in turn (each rule's most severe finding, then
    each rule's second…), so a handful of rules cannot fill the whole export."""
    where, params = _conversation_where(filters)
    verdict = None if filters.verdict == "all" else filters.verdict
    severity = SEVERITY_ORDER.replace('severity', 'f.severity')
    order = (f"{severity}, f.conversation_id, f.start_s" if not coaching else
             f"CASE WHEN f.speaker = 'client' THEN 1 ELSE 0 END, row_number() OVER (PARTITION BY f.rule_id "
             f"ORDER BY {severity}, f.conversation_id, f.start_s), {severity}, f.rule_id, f.conversation_id, f.start_s")
    sql = f"""
        SELECT f.* FROM reviewed_findings f
        WHERE f.conversation_id IN (SELECT v.conversation_id FROM current_scores v WHERE {where})
          AND (?::VARCHAR IS NULL OR f.rule_id = ?::VARCHAR)
          AND (?::VARCHAR IS NULL OR f.category = ?::VARCHAR)
          AND (?::VARCHAR IS NULL OR (?::VARCHAR = 'unreviewed' AND f.verdict IS NULL) OR f.verdict = ?::VARCHAR
               OR (?::VARCHAR = 'not_false_positive' AND f.verdict IS DISTINCT FROM 'false_positive'))
        ORDER BY {order if coaching else "f.rule_id, " + order}
        LIMIT ?
    """
    params = [*params, filters.rule, filters.rule, filters.category, filters.category, verdict, verdict, verdict,
              verdict, int(limit)]
    cols, rows = store.query(sql, params)
    out = [dict(zip(cols, r, strict=True)) for r in rows]
    for finding in out:
        finding["details"] = json.loads(finding["details"]) if finding["details"] else {}
    return out



FLAGGED_COLUMNS = ["conversation_id", "channel", "team", "operator_id", "started_at", "total", "escalation",
                   "reasons", "rules", "top_quote"]


def flagged(store: Store, filters: Filters = Filters(), limit: int = 1000) -> tuple[list[str], list[tuple]]:
    """The team lead's list: flagged conversations, escalations first, then worst score, with reasons."""
    page = conversations(store, filters, sort="priority", limit=limit)
    return FLAGGED_COLUMNS, [tuple(r[c] for c in FLAGGED_COLUMNS) for r in page.dicts()]


FAILURE_COLUMNS = ["source_path", "stage", "error", "failed_at", "resolved_at"]


def failures(store: Store, include_resolved: bool = False, limit: int = 500) -> list[dict[str, Any]]:
    """Each input's latest failure, newest first. ``resolved_at``: when a later run stored or scored that input
    (then it is left out, unless ``include_resolved``)."""
    sql = (
        "WITH latest AS (SELECT source_path, stage, error, failed_at FROM failures "
        "  QUALIFY row_number() OVER (PARTITION BY source_path ORDER BY failed_at DESC) = 1), "
        "fixed AS (SELECT c.source_path, max(greatest(c.ingested_at, coalesce(s.scored_at, c.ingested_at))) AS at "
        "  FROM conversations c LEFT JOIN scores s ON s.conversation_id = c.conversation_id "
        "  WHERE c.source_path IN (SELECT source_path FROM latest) GROUP BY c.source_path), "
        "marked AS (SELECT l.*, CASE WHEN f.at > l.failed_at THEN f.at END AS resolved_at FROM latest l "
        "  LEFT JOIN fixed f ON f.source_path = l.source_path) "
        f"SELECT {', '.join(FAILURE_COLUMNS)} FROM marked {'' if include_resolved else 'WHERE resolved_at IS NULL '}"
        "ORDER BY failed_at DESC LIMIT ?"
    )
    cols, rows = store.query(sql, [int(limit)])
    return [dict(zip(cols, r, strict=True)) for r in rows]


def last_rescore(store: Store) -> dict[str, Any] | None:
    """The latest finished rescore with its before/after summary (``summary``: findings per rule, flag changes,
    score shift; see :func:`qa.store.rescore.rescore_summary`), or ``None`` when there has been none."""
    if not store.exists():
        return None
    cols, rows = store.query(
        "SELECT run_id, started_at, ended_at, status, ruleset_version, processed, failed, flagged, summary FROM runs "
        "WHERE kind = 'rescore' AND ended_at IS NOT NULL AND summary IS NOT NULL "
        "AND json_extract(summary, '$.baseline') IS NOT NULL ORDER BY ended_at DESC LIMIT 1")
    if not rows:
        return None
    out = dict(zip(cols, rows[0], strict=True))
    out["summary"] = json.loads(out["summary"])
    return out


def conversation_source(store: Store, conversation_id: str) -> tuple[str, str | None] | None:
    """A conversation's channel and stored source path (for serving its audio); ``None`` when unknown."""
    _, rows = store.query("SELECT channel, source_path FROM conversations WHERE conversation_id = ?", [conversation_id])
    return (rows[0][0], rows[0][1]) if rows else None


def good_examples(store: Store, filters: Filters = Filters(flagged=None), limit: int = 20) -> list[dict[str, Any]]:
    """Script steps done well, for coaching by example: passed steps with their quotes, best-scored conversations
    first, shaped like :func:`findings` rows (``rule_id`` is ``<script rule>.<step>``, severity ``good``).

    ``filters.rule`` matches the script rule or ``rule.step``, ``filters.category`` the step's category and
    ``filters.verdict`` the verdict on the whole conversation.
    """
    where, params = _conversation_where(replace(filters, rule=None, category=None, verdict=None))
    sql = f"""
        SELECT v.conversation_id, v.channel, v.team, v.operator_id, v.started_at, v.total, v.details,
               r.verdict, r.comment AS review_comment
        FROM current_scores v
        LEFT JOIN latest_reviews r ON r.conversation_id = v.conversation_id AND r.finding_key IS NULL
        WHERE {where}
          AND (?::VARCHAR IS NULL OR (?::VARCHAR = 'unreviewed' AND r.verdict IS NULL) OR r.verdict = ?::VARCHAR)
        ORDER BY v.total DESC, v.conversation_id
        LIMIT ?
    """
    verdict = filters.verdict
    cols, rows = store.query(sql, [*params, verdict, verdict, verdict, max(200, int(limit) * 10)])
    out = []
    for row in rows:
        conv = dict(zip(cols, row, strict=True))
        details = json.loads(conv.pop("details") or "{}")
        for step in details.get("script", []):
            rule_id = f"{step['rule_id']}.{step['step']}"
            if not (step.get("passed") and step.get("applicable", True) and step.get("quote")):
                continue
            if filters.rule not in (None, step["rule_id"], rule_id) or filters.category not in (None,
                                                                                                   step["category"]):
                continue
            out.append(conv | {
                "finding_key": f"{rule_id}@{step.get('utterance_idx', '-')}", "rule_id": rule_id,
                "category": step["category"], "kind": "script_step", "severity": "good", "speaker": "operator",
                "start_s": step.get("start_s") or 0.0, "end_s": step.get("end_s") or 0.0, "quote": step["quote"],
                "message": step.get("title"), "utterance_idx": step.get("utterance_idx"), "details": {},
            })
    out.sort(key=lambda e: (e["rule_id"], -e["total"], e["conversation_id"], e["start_s"]))
    # At most `limit`, spread over steps: take in turn from each step so one step does not fill the export.
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for example in out:
        by_rule.setdefault(example["rule_id"], []).append(example)
    picked: list[dict[str, Any]] = []
    while len(picked) < limit and any(by_rule.values()):
        for examples in by_rule.values():
            if examples and len(picked) < limit:
                picked.append(examples.pop(0))
    return sorted(picked, key=lambda e: (e["rule_id"], -e["total"], e["conversation_id"], e["start_s"]))


_FILTER_MENUS = (("team", "--team", "teams"), ("operator", "--operator", "operators"), ("rule", "--rule", "rules"),
                 ("category", "--category", "categories"))


def unknown_filter_values(store: Store, filters: Filters, skip: Sequence[str] = ()) -> list[str]:
    """Warnings for filter values that match nothing stored (a typo), each naming the nearest known value.

    ``skip`` lists filter fields not to check (e.g. ``rule`` for good examples, whose rules are ``rule.step``).
    """
    from qa.fuzzy import nearest_name

    wanted = [(field, flag, menu) for field, flag, menu in _FILTER_MENUS
              if getattr(filters, field) is not None and field not in skip]
    if not wanted:
        return []
    options = filter_options(store)
    warnings = []
    for field, flag, menu in wanted:
        value, known = getattr(filters, field), options[menu]
        if value in known:
            continue
        hint = nearest_name(value, known)
        warnings.append(f"{flag} {value!r} matches nothing stored"
                        + (f"; did you mean {hint!r}?" if hint else f" (known: {', '.join(known[:10]) or 'none'})"))
    return warnings


DEFAULT_TIMEZONE = "Europe/Moscow"


def day_bound(value: str, end: bool = False, timezone: str | None = None) -> datetime:
    """A ``since``/``until`` bound from an ISO date or date-time, read in ``timezone`` (default: the configured one,
    see :func:`qa.config.configured_timezone`) when it names none. ``end`` makes it an inclusive until: a date
    means through that whole day.

    The CLI and the review page both go through this, so a date means the same day everywhere (as ``day`` does).
    ``ValueError`` when ``value`` is not ISO.
    """
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from qa.config import configured_timezone

    zone = ZoneInfo(timezone or configured_timezone())
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    if end:
        date_only = len(value.strip()) <= 10
        parsed += timedelta(days=1) if date_only else timedelta(microseconds=1)
    return parsed
