"""Weekly trends for team leads: average score and flagged share per week (for a team and for each of its
operators), and the rules whose share of conversations moved most since the week before.

A week starts on Monday of the conversation's day in the configured time zone (``qa_day``, as the daily views);
the last week is the one holding ``until`` (else the newest conversation in scope), and the weeks go back from it.
Every filter is a bound parameter (:func:`qa.store.queries.conversation_where`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from qa.store.base import Store
from qa.store.queries import Filters, conversation_where

WEEKS = 12
ALL = Filters(flagged=None)  # every conversation, flagged or not
_WEEK = "date_trunc('week', qa_day(v.started_at, v.scored_at))::DATE"


def last_day(store: Store, filters: Filters) -> date | None:
    """The day the trend ends: ``until``'s (inclusive) day, else the newest conversation's day in scope."""
    if filters.until is not None:
        return (filters.until - timedelta(microseconds=1)).date()
    where, params = conversation_where(replace(filters, since=None, until=None))
    _, rows = store.query(f"SELECT max(qa_day(v.started_at, v.scored_at)) FROM current_scores v WHERE {where}", params)
    return rows[0][0] if rows and rows[0][0] else None


def week_range(end: date, weeks: int, timezone: str | None = None) -> tuple[date, datetime, datetime]:
    """The Monday of the first of ``weeks`` weeks ending with ``end``'s week, and that span as moments in the
    configured time zone (``since`` inclusive, ``until`` exclusive)."""
    from qa.config import configured_timezone

    zone = ZoneInfo(configured_timezone(timezone))
    last_monday = end - timedelta(days=end.weekday())
    first = last_monday - timedelta(weeks=weeks - 1)
    since = datetime.combine(first, time(), zone)
    until = datetime.combine(last_monday + timedelta(days=7), time(), zone)
    return first, since, until


def weekly(store: Store, filters: Filters = ALL, by_operator: bool = False,
           weeks: int = WEEKS) -> tuple[list[str], list[tuple]]:
    """Per week (and operator): conversations, flagged and their share, escalations, average and lowest score —
    the last ``weeks`` weeks unless ``filters.since`` says where to start. Weeks without conversations are left
    out (the page shows them as gaps)."""
    end = last_day(store, filters)
    if end is None:
        return ["week", "conversations", "flagged", "flagged_pct", "escalations", "avg_score", "min_score"], []
    if filters.since is None:
        _, since, until = week_range(end, weeks)
        filters = replace(filters, since=since, until=filters.until or until)
    where, params = conversation_where(replace(filters, flagged=None))
    group = f"{_WEEK} AS week" + (", v.team, v.operator_id" if by_operator else "")
    order = "week" + (", v.team, v.operator_id" if by_operator else "")
    sql = f"""
        SELECT {group}, count(*) AS conversations, count(*) FILTER (WHERE v.flagged) AS flagged,
               round(100.0 * count(*) FILTER (WHERE v.flagged) / count(*), 1) AS flagged_pct,
               count(*) FILTER (WHERE v.escalation) AS escalations,
               round(avg(v.total), 1) AS avg_score, min(v.total) AS min_score
        FROM current_scores v WHERE {where}
        GROUP BY ALL ORDER BY {order}
    """
    return store.query(sql, params)


RULE_MOVE_COLUMNS = ["rule_id", "category", "previous_week", "this_week", "previous_conversations",
                     "this_conversations", "previous_pct", "this_pct", "change_pct"]


def rule_moves(store: Store, filters: Filters = ALL, limit: int = 10
               ) -> tuple[list[str], list[tuple]]:
    """The rules whose share of conversations (with a current finding of the rule, of all conversations that week)
    moved most between the last week and the one before, biggest move first."""
    end = last_day(store, filters)
    if end is None:
        return RULE_MOVE_COLUMNS, []
    first, since, until = week_range(end, 2)
    scoped = replace(filters, since=since, until=until, flagged=None, rule=None, category=None)
    where, params = conversation_where(scoped)
    found_where, found_params = conversation_where(scoped, alias="f")
    previous, this = first, first + timedelta(weeks=1)
    sql = f"""
        WITH totals AS (
            SELECT {_WEEK} AS week, count(*) AS n FROM current_scores v WHERE {where} GROUP BY ALL
        ), hits AS (
            SELECT date_trunc('week', qa_day(f.dated_at, f.dated_at))::DATE AS week, f.rule_id,
                   any_value(f.category) AS category, count(*) FILTER (WHERE f.first_of_rule) AS conversations
            FROM current_findings f WHERE {found_where} GROUP BY ALL
        ), pairs AS (
            SELECT h.rule_id, any_value(h.category) AS category,
                   coalesce(sum(h.conversations) FILTER (WHERE h.week = ?::DATE), 0) AS previous_conversations,
                   coalesce(sum(h.conversations) FILTER (WHERE h.week = ?::DATE), 0) AS this_conversations
            FROM hits h GROUP BY h.rule_id
        )
        SELECT p.rule_id, p.category, ?::DATE AS previous_week, ?::DATE AS this_week,
               p.previous_conversations, p.this_conversations,
               round(100.0 * p.previous_conversations / nullif(tp.n, 0), 1) AS previous_pct,
               round(100.0 * p.this_conversations / nullif(tt.n, 0), 1) AS this_pct,
               round(coalesce(100.0 * p.this_conversations / nullif(tt.n, 0), 0)
                     - coalesce(100.0 * p.previous_conversations / nullif(tp.n, 0), 0), 1) AS change_pct
        FROM pairs p LEFT JOIN totals tp ON tp.week = ?::DATE LEFT JOIN totals tt ON tt.week = ?::DATE
        ORDER BY abs(change_pct) DESC, p.rule_id LIMIT ?
    """
    args: list[Any] = [*params, *found_params, previous, this, previous, this, previous, this, int(limit)]
    return store.query(sql, args)
