"""The weekly trends of a team and its operators: average score and flagged share per week, and the rules that moved
most since last week, as charts on the page and as CSV (the same tables as ``qa stats --by week``)."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qa.review.auth import User
from qa.review.web import charts
from qa.review.web.params import BadRequest, _int, _text, parse_filters
from qa.review.web.site import Site
from qa.store import trends

TREND_CSV = ("weeks", "operators", "rules")


def router(site: Site) -> APIRouter:
    """``/trends`` and ``/trends.csv`` of ``site``."""
    routes = APIRouter()
    store, zone_name, titles = site.store, site.zone_name, site.titles
    current, need, page = site.current, site.need, site.page

    def trend_filters(request: Request, user: User) -> Any:
        filters = site.scoped(user, parse_filters(request.query_params, flagged_only=False, timezone=zone_name))
        weeks = _int(request.query_params, "weeks", trends.WEEKS)
        if not 2 <= weeks <= 104:
            raise BadRequest("weeks: от 2 до 104")
        return filters, weeks

    @routes.get("/trends", response_class=HTMLResponse)
    def trends_page(request: Request) -> Response:
        user, _ = current(request)
        need(request, user.sees_stats)
        filters, weeks = trend_filters(request, user)
        cols, team_rows = trends.weekly(store, filters, weeks=weeks)
        team_weeks = [dict(zip(cols, r, strict=True)) for r in team_rows]
        ocols, op_rows = trends.weekly(store, filters, by_operator=True, weeks=weeks)
        labels = [str(w["week"]) for w in team_weeks]
        operators: dict[str, dict[str, Any]] = {}
        for r in (dict(zip(ocols, row, strict=True)) for row in op_rows):
            entry = operators.setdefault(r["operator_id"] or "—", {"weeks": {}, "team": r["team"]})
            entry["weeks"][str(r["week"])] = r
        for entry in operators.values():
            series = [entry["weeks"].get(w) for w in labels]
            entry["score_line"] = charts.sparkline([s["avg_score"] if s else None for s in series], 0, 100)
            entry["flagged_line"] = charts.sparkline([s["flagged_pct"] if s else None for s in series], 0, 100,
                                                     css="spark-flagged")
            known = [s for s in series if s]
            entry["last"] = known[-1] if known else None
            entry["before"] = known[-2] if len(known) > 1 else None
        mcols, moves = trends.rule_moves(store, filters)
        moved = [dict(zip(mcols, r, strict=True)) for r in moves]
        csv_query = urlencode({k: v for k, v in request.query_params.items() if v})
        return page(request, "trends.html", params=dict(request.query_params), options=site.scoped_options(user),
                    weeks=weeks, team_weeks=team_weeks, operators=dict(sorted(operators.items())), moved=moved,
                    trend=charts.trend(labels, [w["avg_score"] for w in team_weeks],
                                       [w["flagged_pct"] for w in team_weeks], flagged_top=100, unit="%"),
                    moves_chart=charts.moves([(titles.rule(m["rule_id"]), m["change_pct"]) for m in moved]),
                    csv_query=csv_query, team=filters.team)

    @routes.get("/trends.csv")
    def trends_csv(request: Request) -> Response:
        user, _ = current(request)
        need(request, user.sees_stats)
        filters, weeks = trend_filters(request, user)
        what = _text(request.query_params, "what") or "weeks"
        if what not in TREND_CSV:
            raise BadRequest(f"what: одно из {', '.join(TREND_CSV)}, а не {what!r}")
        if what == "rules":
            cols, rows = trends.rule_moves(store, filters, limit=1000)
        else:
            cols, rows = trends.weekly(store, filters, by_operator=what == "operators", weeks=weeks)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(cols)
        writer.writerows(rows)
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="qa-trends-{what}.csv"'})

    return routes
