"""The current results (``current_scores``, ``current_findings``): kept at write time, inside each write's
transaction, for the conversations it touched; and verdicts carried over to the findings that replace theirs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa

# The current results of some conversations, rebuilt from the base tables (scores, findings, conversations).
# Migration 006 runs the same statements for every conversation. `{ids}` is a relation of conversation ids; `{scores}`
# and `{findings}` are the base tables, or the rows a write just made when they are the latest scored
# (:func:`current_from_page`); `{within}` narrows a read of a big table to the ids' range (zone maps prune it).
_CURRENT_SCORES_SELECT = """
WITH chosen_key AS (  -- ranked on narrow columns only: the wide details stream through the join below
    SELECT conversation_id, ruleset_version FROM {scores} WHERE conversation_id IN (SELECT conversation_id FROM {ids})
    QUALIFY row_number() OVER (PARTITION BY conversation_id ORDER BY scored_at DESC, ruleset_version) = 1
), chosen AS (
    SELECT s.* FROM {scores} s JOIN chosen_key k
    ON k.conversation_id = s.conversation_id AND k.ruleset_version = s.ruleset_version
), found AS (
    SELECT f.conversation_id, count(*) AS findings, string_agg(DISTINCT f.rule_id, ', ' ORDER BY f.rule_id) AS rules,
           first(f.quote ORDER BY CASE f.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2
                                  WHEN 'low' THEN 3 ELSE 4 END, f.start_s) AS top_quote
    FROM {findings} f JOIN chosen s ON s.conversation_id = f.conversation_id AND s.ruleset_version = f.ruleset_version
    GROUP BY f.conversation_id
)
SELECT s.conversation_id, s.ruleset_version, s.total, s.passed, s.flagged, s.escalation, s.auto_failed, s.reasons,
       s.details, s.scored_at, s.run_id, c.channel, c.team, c.operator_id, c.started_at, c.duration_s,
       coalesce(c.started_at, s.scored_at) AS dated_at, coalesce(found.findings, 0)::INTEGER AS findings,
       found.rules AS rules, found.top_quote AS top_quote
FROM chosen s JOIN (SELECT * FROM conversations WHERE conversation_id IN (SELECT conversation_id FROM {ids}){within}) c
ON c.conversation_id = s.conversation_id
LEFT JOIN found ON found.conversation_id = s.conversation_id
ORDER BY coalesce(c.started_at, s.scored_at), s.conversation_id
"""
_CURRENT_SCORES_SQL = "INSERT INTO current_scores" + _CURRENT_SCORES_SELECT


_CURRENT_FINDINGS_SQL = """
INSERT INTO current_findings
WITH keyed AS (
    SELECT f.*, f.rule_id || '@' || coalesce(f.utterance_idx::VARCHAR, '-') || '@' || printf('%.1f', f.start_s)
               AS finding_key
    FROM {findings} f WHERE f.conversation_id IN (SELECT conversation_id FROM {ids})
), scored AS (  -- the current scores of these conversations only: a keyed read, not a scan of every one
    SELECT * FROM {current} WHERE conversation_id IN (SELECT conversation_id FROM {ids}){within}
), verdicts AS (  -- latest_reviews of these conversations (as _LATEST_VERDICTS)
    SELECT conversation_id, finding_key, verdict FROM reviews
    WHERE conversation_id IN (SELECT conversation_id FROM {ids}) AND finding_key IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY conversation_id, finding_key ORDER BY created_at DESC, review_id DESC) = 1
)
SELECT f.*, s.channel, s.team, s.operator_id, s.dated_at, s.total, s.flagged,
       row_number() OVER (PARTITION BY f.conversation_id, f.rule_id ORDER BY f.finding_idx) = 1, r.verdict
FROM keyed f JOIN scored s ON s.conversation_id = f.conversation_id AND s.ruleset_version = f.ruleset_version
LEFT JOIN verdicts r ON r.conversation_id = f.conversation_id AND r.finding_key = f.finding_key
ORDER BY s.dated_at, f.conversation_id, f.finding_idx
"""


# The verdicts in force on findings (latest_reviews, finding_key not NULL) of the conversations in relation `{ids}`:
# the window runs over their reviews only, not over every review ever given.
_LATEST_VERDICTS = """
SELECT * FROM reviews WHERE conversation_id IN (SELECT conversation_id FROM {ids}) AND finding_key IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY conversation_id, finding_key ORDER BY created_at DESC, review_id DESC) = 1
"""


def set_verdict(con: duckdb.DuckDBPyConnection, conversation_id: str, finding_key: str, verdict: str) -> None:
    """Keep ``current_findings.verdict`` equal to the verdict just recorded (the latest) on that finding."""
    con.execute("UPDATE current_findings SET verdict = ? WHERE conversation_id = ? AND finding_key = ?",
                [verdict, conversation_id, finding_key])


def refresh_current(con: duckdb.DuckDBPyConnection, ids: Sequence[str] | None = None) -> None:
    """Rewrite ``current_scores`` and ``current_findings`` for these conversations (all when ``None``) from the
    base tables: DELETE then INSERT, inside the caller's transaction. Every write path of the store calls it;
    so must anything that edits scores, findings or conversations by hand."""
    if ids is None:
        relation = "conversations"
    else:
        con.register("_current_ids", pa.table({"conversation_id": pa.array(list(ids), pa.string())}))
        relation = "_current_ids"
    try:
        for table in ("current_findings", "current_scores"):
            where = "" if ids is None else f" WHERE conversation_id IN (SELECT conversation_id FROM {relation})"
            con.execute(f"DELETE FROM {table}{where}")
        con.execute(_CURRENT_SCORES_SQL.format(ids=relation, scores="scores", findings="findings", within=""))
        con.execute(_CURRENT_FINDINGS_SQL.format(ids=relation, findings="findings", within="",
                                                 current="current_scores"))
    finally:
        if ids is not None:
            con.unregister("_current_ids")


def current_from_page(con: duckdb.DuckDBPyConnection, ids: str, scores: str, findings: str,
                      bounds: tuple[str, str], fresh: bool = False) -> None:
    """Rewrite the current results of the conversations in relation ``ids`` from the rows a write just made
    (relations ``scores``, one per conversation, and ``findings``, with the base tables' columns in their order),
    which must be the most recently scored of those conversations: :func:`refresh_current`'s statements over those
    rows instead of every version stored. ``bounds``: the lowest and highest id, so every read of a big table is
    narrowed to their range. ``fresh``: none of them is stored yet, so none has current results to delete."""
    within = " AND conversation_id BETWEEN ? AND ?"
    if not fresh:
        for table in ("current_findings", "current_scores"):
            con.execute(f"DELETE FROM {table} WHERE conversation_id IN (SELECT conversation_id FROM {ids}){within}",
                        list(bounds))
        con.execute(_CURRENT_SCORES_SQL.format(ids=ids, scores=scores, findings=findings, within=within),
                    list(bounds))
        con.execute(_CURRENT_FINDINGS_SQL.format(ids=ids, findings=findings, within=within, current="current_scores"),
                    list(bounds))
        return
    # New conversations: their current scores are these rows alone, made once and read back from memory by the
    # findings (current_scores is in date order, so a read of it by id cannot skip anything on a lake).
    made = con.execute(_CURRENT_SCORES_SELECT.format(ids=ids, scores=scores, findings=findings, within=within),
                       list(bounds)).to_arrow_table()
    con.register("_page_current", made)
    try:
        con.execute("INSERT INTO current_scores SELECT * FROM _page_current")
        con.execute(_CURRENT_FINDINGS_SQL.format(ids=ids, findings=findings, within=within, current="_page_current"),
                    list(bounds))
    finally:
        con.unregister("_page_current")


def reviewed_now(con: duckdb.DuckDBPyConnection, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The current findings of these conversations that carry a verdict, with the verdict."""
    con.register("_reviewed_ids", pa.table({"conversation_id": list(ids)}))
    try:
        if not con.execute("SELECT 1 FROM reviews WHERE conversation_id IN (SELECT conversation_id FROM "
                           "_reviewed_ids) LIMIT 1").fetchone():
            return []  # nothing reviewed: skip the join of the current-results views
        cur = con.execute(  # both sides read by key: these conversations' rows only
            "SELECT r.conversation_id, r.finding_key, r.rule_id, r.verdict, r.comment, r.reviewer, r.created_at, "
            f"f.utterance_idx, f.start_s, f.end_s FROM ({_LATEST_VERDICTS.format(ids='_reviewed_ids')}) r "
            "JOIN (SELECT * FROM current_findings WHERE conversation_id IN (SELECT conversation_id FROM "
            "_reviewed_ids)) f ON f.conversation_id = r.conversation_id AND f.finding_key = r.finding_key")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.unregister("_reviewed_ids")


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> tuple[float, float]:
    """Sort key for a finding's likeness to its reviewed ancestor: time overlap, then nearness of start."""
    shared = min(a["end_s"], b["end_s"]) - max(a["start_s"], b["start_s"])
    return shared, -abs(a["start_s"] - b["start_s"])


def carry_reviews(con: duckdb.DuckDBPyConnection, before: Sequence[dict[str, Any]]) -> int:
    """Re-attach verdicts whose finding key vanished (a rule edit moved the finding's start) to the new finding of
    the same rule on the same utterance, the one overlapping the old one most; returns how many were carried.

    ``before`` is :func:`reviewed_now` taken before the findings were replaced.
    """
    ids = sorted({r["conversation_id"] for r in before})
    if not ids:
        return 0
    con.register("_carry_ids", pa.table({"conversation_id": ids}))
    try:
        cur = con.execute("SELECT conversation_id, finding_key, rule_id, utterance_idx, start_s, end_s "
                          "FROM latest_findings WHERE conversation_id IN (SELECT conversation_id FROM _carry_ids)")
        cols = [d[0] for d in cur.description]
        current = [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
        taken = set(con.execute("SELECT conversation_id, finding_key FROM "
                                f"({_LATEST_VERDICTS.format(ids='_carry_ids')})").fetchall())
    finally:
        con.unregister("_carry_ids")
    keys = {(f["conversation_id"], f["finding_key"]) for f in current}
    carried = 0
    for old in before:
        if (old["conversation_id"], old["finding_key"]) in keys:
            continue  # the same key: the verdict is still attached
        heirs = [f for f in current if f["conversation_id"] == old["conversation_id"]
                 and f["rule_id"] == old["rule_id"] and f["utterance_idx"] == old["utterance_idx"]
                 and (f["conversation_id"], f["finding_key"]) not in taken]
        if not heirs:
            continue
        heir = max(heirs, key=lambda f: _overlap(f, old))
        con.execute(
            "INSERT INTO reviews (review_id, conversation_id, finding_key, rule_id, verdict, comment, reviewer, "
            "created_at, carried_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [str(uuid.uuid4()), heir["conversation_id"], heir["finding_key"], heir["rule_id"], old["verdict"],
             old["comment"], old["reviewer"], old["created_at"], old["finding_key"]])
        set_verdict(con, heir["conversation_id"], heir["finding_key"], old["verdict"])
        taken.add((heir["conversation_id"], heir["finding_key"]))
        carried += 1
    return carried
