"""The read side, for team leads: ``qa flagged``, ``qa stats``, ``qa findings``, ``qa precision`` and ``qa sql``.
Each reads a consistent view and is safe while the nightly flow writes."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from qa.cli import options as opt
from qa.cli.output import fail, print_rows, warn_typos

if TYPE_CHECKING:
    from qa.store import Store


def flagged(
    db: opt.DbOpt = Path(opt.DEFAULT_DB),
    since: opt.SinceOpt = None,
    until: opt.UntilOpt = None,
    team: opt.TeamOpt = None,
    operator: opt.OperatorOpt = None,
    rule: opt.RuleOpt = None,
    category: opt.CategoryOpt = None,
    channel: opt.ChannelOpt = None,
    min_score: opt.MinScoreOpt = None,
    max_score: opt.MaxScoreOpt = None,
    fmt: opt.FormatOpt = "table",
) -> None:
    """The team lead's list: flagged conversations, escalations first, with reasons and the worst quote."""
    from qa.store import StoreError, queries

    filters = opt.filters(since, until, team, operator, rule, category, channel, min_score, max_score, True)
    store = opt.open_db(db)
    try:
        columns, rows = queries.flagged(store, filters)
    except StoreError as exc:
        raise fail(str(exc)) from exc
    typo = warn_typos(store, filters)
    print_rows(columns, rows, fmt, title=f"Flagged conversations ({len(rows)})")
    if typo and not rows:
        raise typer.Exit(1)


def stats(
    db: opt.DbOpt = Path(opt.DEFAULT_DB),
    by: Annotated[str, typer.Option(help="operator | team | day | day-operator | rule | week | week-operator | "
                                         "rule-week (week: the last --weeks weeks unless --since).")] = "operator",
    since: opt.SinceOpt = None,
    until: opt.UntilOpt = None,
    team: opt.TeamOpt = None,
    operator: opt.OperatorOpt = None,
    channel: opt.ChannelOpt = None,
    weeks: Annotated[int, typer.Option(min=1, max=104, help="--by week / week-operator: how many weeks, up to the "
                                       "one of --until (else of the newest conversation).")] = 12,
    fmt: opt.FormatOpt = "table",
) -> None:
    """Scores per operator, team, day or week (conversations, flagged, escalations, average score), rule hits, or
    the rules that moved most since the week before."""
    from qa.store import StoreError, queries, trends

    filters = opt.filters(since, until, team, operator, None, None, channel, None, None, None)
    store = opt.open_db(db)
    try:
        if by == "rule":
            columns, rows = queries.rule_hits(store, filters, limit=1000)
        elif by in ("week", "week-operator"):
            columns, rows = trends.weekly(store, filters, by_operator=by == "week-operator", weeks=weeks)
        elif by == "rule-week":
            columns, rows = trends.rule_moves(store, filters, limit=1000)
        elif by in queries.STATS_GROUPS:
            columns, rows = queries.stats(store, by, filters)
        else:
            known = [*queries.STATS_GROUPS, "rule", "week", "week-operator", "rule-week"]
            raise typer.BadParameter(f"--by: one of {', '.join(known)}")
    except StoreError as exc:
        raise fail(str(exc)) from exc
    typo = warn_typos(store, filters)
    print_rows(columns, rows, fmt, title=f"Scores by {by}")
    if typo and not rows:
        raise typer.Exit(1)


def findings(
    db: opt.DbOpt = Path(opt.DEFAULT_DB),
    conversation: Annotated[str | None, typer.Option(help="Only this conversation id.")] = None,
    since: opt.SinceOpt = None,
    until: opt.UntilOpt = None,
    team: opt.TeamOpt = None,
    operator: opt.OperatorOpt = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule.")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    verdict: Annotated[str | None, typer.Option(
        help="confirmed | false_positive | disputed | unreviewed.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    fmt: opt.FormatOpt = "table",
) -> None:
    """Current findings with their keys and verdicts (the keys `qa review --finding` takes)."""
    from qa.store import StoreError, queries

    filters = replace(opt.filters(since, until, team, operator, rule, category, None, None, None, None, verdict),
                      conversation_id=conversation)
    store = opt.open_db(db)
    try:
        found = queries.findings(store, filters, limit=limit)
    except StoreError as exc:
        raise fail(str(exc)) from exc
    typo = warn_typos(store, filters)
    columns = ["conversation_id", "finding_key", "rule_id", "severity", "speaker", "start_s", "quote", "verdict"]
    print_rows(columns, [[f[c] for c in columns] for f in found], fmt, title=f"Findings ({len(found)})")
    if typo and not found:
        raise typer.Exit(1)


def precision(db: opt.DbOpt = Path(opt.DEFAULT_DB), fmt: opt.FormatOpt = "table") -> None:
    """Rule precision from supervisors' verdicts: share of reviewed findings marked false positive, per rule."""
    from qa.store import StoreError, queries

    store = opt.open_db(db)
    try:
        columns, rows = queries.rule_precision(store)
    except StoreError as exc:
        raise fail(str(exc)) from exc
    print_rows(columns, rows, fmt, title="Rule precision (noisiest first)")


def sql(
    query: Annotated[str, typer.Argument(help="One SELECT statement.")],
    db: opt.DbOpt = Path(opt.DEFAULT_DB),
    fmt: opt.FormatOpt = "table",
    include_accounts: Annotated[bool, typer.Option(
        "--include-accounts", help="Let the query read the account tables (users, sessions, audit): needs --admin "
                                   "and that admin's password; audited.")] = False,
    admin: Annotated[str | None, typer.Option(help="The admin account (role admin) asking for --include-accounts.")]
    = None,
    password: Annotated[str | None, typer.Option(
        help="The admin's password (default: asked on the terminal; or QA_PASSWORD).", envvar="QA_PASSWORD")] = None,
) -> None:
    """Run one read-only SELECT (safe while the nightly flow writes: it waits for the writer) on a locked
    connection: no files, no extensions, no ATTACH or COPY, and no account table unless an admin asks for them."""
    from qa.review import report
    from qa.store import StoreError
    from qa.store.locked import QueryRefused

    store = opt.open_db(db)
    if include_accounts:
        _confirm_admin(store, admin, password, query)
    elif admin:
        raise fail("--admin goes with --include-accounts")
    try:
        columns, rows = store.locked_query(query, accounts=include_accounts)
    except QueryRefused as exc:
        raise fail(f"query refused: {exc}") from exc
    except StoreError as exc:
        raise fail(str(exc)) from exc
    except Exception as exc:  # a SQL error from DuckDB (the plan check's EXPLAIN is no part of the user's query)
        raise fail(f"query failed: {str(exc).replace('EXPLAIN (FORMAT JSON) ', '')}") from exc
    text = report.render_rows(columns, rows, fmt)
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _confirm_admin(store: Store, admin: str | None, password: str | None, query: str) -> None:
    """Exit 2 unless ``admin`` is an admin account and ``password`` (asked when not given) is theirs; the query is
    written to the audit table under their name."""
    import getpass

    from qa.review import auth
    from qa.store import StoreError

    if not admin:
        raise fail("--include-accounts needs --admin NAME (an account with the admin role) and its password")
    secret = password if password is not None else typer.prompt(f"password of {admin}", hide_input=True)
    try:
        user = auth.authenticate(store, admin, secret, "sql_accounts", detail=query[:2000],
                                 client=f"cli ({getpass.getuser()})", role="admin")
    except auth.LockedOut as exc:
        raise fail(f"{admin}: account locked after too many wrong passwords (qa users passwd unlocks it)") from exc
    except StoreError as exc:
        raise fail(str(exc)) from exc
    if user is None:
        raise fail(f"{admin}: wrong name or password; the account tables stay closed")
    if user.role != "admin":
        raise fail(f"{admin}: role {user.role}, not admin; only an admin may read the account tables")
