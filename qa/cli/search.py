"""``qa search``: the transcript search of the review page on the command line, and a search saved as a draft rule
(``--save-rule``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from qa.cli import options as opt
from qa.cli.output import audit, fail, print_rows, warn_typos

COLUMNS = ["n", "conversation_id", "utterance_idx", "dated_at", "at", "seek_s", "speaker", "channel", "team",
           "operator_id", "snippet", "rules"]
TABLE_COLUMNS = ["n", "conversation_id", "dated_at", "at", "speaker", "team", "operator_id", "snippet"]


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _search_filters(since: str | None, until: str | None, team: str | None, operator: str | None,
                    channel: str | None, speaker: str | None, hit: str | None, miss: str | None) -> Any:
    from qa.store.search import SPEAKERS, SearchFilters

    if channel not in (None, "call", "chat"):
        raise typer.BadParameter("--channel: call or chat")
    if speaker not in (None, *SPEAKERS):
        raise typer.BadParameter("--speaker: operator or client")
    if hit and miss:
        raise typer.BadParameter("give --hit or --miss, not both")
    return SearchFilters(since=opt.date(since, "--since"), until=opt.date(until, "--until"), team=team,
                         operator=operator, channel=channel, speaker=speaker, rule=hit or miss,
                         rule_hit=True if hit else (False if miss else None))


def search(
    query: Annotated[str, typer.Argument(help="What to find (README «Поиск по разговорам»): words, \"phrases\", "
                                              "«words»~N, OR, NOT or -word, (groups).")],
    db: opt.DbOpt = Path(opt.DEFAULT_DB),
    since: opt.SinceOpt = None,
    until: opt.UntilOpt = None,
    team: opt.TeamOpt = None,
    operator: opt.OperatorOpt = None,
    channel: opt.ChannelOpt = None,
    speaker: Annotated[str | None, typer.Option(help="operator | client (mono turns count for both).")] = None,
    hit: Annotated[str | None, typer.Option(help="Only sentences a finding of this rule covers ('any': any rule).")]
    = None,
    miss: Annotated[str | None, typer.Option(help="Only sentences this rule did not find ('any': no rule did).")]
    = None,
    fuzzy: Annotated[bool, typer.Option("--fuzzy", help="Also stored words close to a query word (ASR slips).")]
    = False,
    page: Annotated[int, typer.Option(min=1, help="Page of results.")] = 1,
    size: Annotated[int, typer.Option(min=1, max=200, help="Results per page.")] = 25,
    redact: Annotated[bool, typer.Option("--redact/--no-redact", help="Mask personal data in the sentences shown "
                                         "(on by default).")] = True,
    fmt: opt.FormatOpt = "table",
    save_rule: Annotated[str | None, typer.Option(help="Save the search as a draft rule with this id (and its test "
                                                       "file) in --rules.")] = None,
    title: Annotated[str | None, typer.Option(help="With --save-rule: the rule's title.")] = None,
    right: Annotated[list[str] | None, typer.Option(help="With --save-rule: results (numbers of this page, or "
                                                         "CONVERSATION:TURN) that are right: '# hit' cases.")] = None,
    wrong: Annotated[list[str] | None, typer.Option(help="With --save-rule: results that are wrong: '# ok' cases.")]
    = None,
    rule_speaker: Annotated[str | None, typer.Option(help="With --save-rule: operator | client | any (default: "
                                                          "--speaker, else any).")] = None,
    category: Annotated[str, typer.Option(help="With --save-rule: the rule's category.")] = "search",
    severity: Annotated[str, typer.Option(help="With --save-rule: info | low | medium | high | critical.")] =
    "medium",
    kind: Annotated[str | None, typer.Option(help="With --save-rule: stopword | trigger (default: stopword for "
                                                  "the operator, else trigger).")] = None,
    status: Annotated[str, typer.Option(help="With --save-rule: experimental (findings, no penalty) | active.")] =
    "experimental",
    rules: opt.RulesOpt = Path(opt.DEFAULT_RULES),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="With --save-rule: replace an existing rule of that "
                                            "id (asked on a terminal otherwise).")] = False,
    reviewer: Annotated[str | None, typer.Option("--by", help="With --save-rule: who saves it (a supervisor account "
                                                 "when the database has accounts).", envvar="QA_REVIEWER")] = None,
) -> None:
    """Search every conversation's words by meaning (lemmas); optionally save the search as a draft rule."""
    from qa.review.search import parse_marks, run_search
    from qa.store import StoreError, queries
    from qa.text.search_query import QueryError

    filters = _search_filters(since, until, team, operator, channel, speaker, hit, miss)
    store = opt.existing_db(db)
    redactor = None
    if redact:
        from qa.text.redaction import get_redactor

        redactor = get_redactor()
    try:
        result = run_search(store, query, filters, fuzzy=fuzzy, page=page, size=size, redactor=redactor)
    except QueryError as exc:
        raise fail(str(exc)) from exc
    except StoreError as exc:
        raise fail(str(exc)) from exc
    typo = warn_typos(store, queries.Filters(team=team, operator=operator, rule=filters.rule
                                             if filters.rule not in (None, "any") else None))
    _print_result(result, fmt, page, size)
    if not redact and result.page.hits:  # personal data shown in clear: on the record, as on the page
        audit(store, reviewer, "pii_shown", None, f"qa search «{query[:200]}» --no-redact: {len(result.page.hits)} "
                                                  "sentences")
    if save_rule is not None:
        try:
            marks_right = parse_marks(right or [], result.page.hits)
            marks_wrong = parse_marks(wrong or [], result.page.hits)
        except QueryError as exc:
            raise fail(str(exc)) from exc
        _save(store, query, fuzzy, marks_right, marks_wrong, save_rule, title, rule_speaker or speaker or "any",
              category, severity, kind, status, rules, overwrite, reviewer, redactor)
    elif typo and not result.page.total:
        raise typer.Exit(1)


def _print_result(result: Any, fmt: str, page: int, size: int) -> None:
    from zoneinfo import ZoneInfo

    from qa.config import configured_timezone
    from qa.review import report

    zone = ZoneInfo(configured_timezone())
    rows = []
    for n, shown in enumerate(result.shown, start=1):
        h = shown.hit
        rows.append([n, h.conversation_id, h.utterance_idx, h.dated_at.astimezone(zone), _clock(h.seek_s),
                     round(h.seek_s, 2), h.speaker, h.channel, h.team, h.operator_id, shown.snippet_text,
                     list(h.rules)])
    total, conversations = result.page.total, result.page.conversations
    pages = max(1, -(-total // size))
    columns = COLUMNS
    if fmt == "table":  # a terminal: the columns a reader needs, the date to the minute
        at = [COLUMNS.index(c) for c in TABLE_COLUMNS]
        rows = [[row[i].strftime("%Y-%m-%d %H:%M") if c == "dated_at" else row[i] for i, c in zip(at, TABLE_COLUMNS,
                                                                                                strict=True)]
                for row in rows]
        columns = TABLE_COLUMNS
    print_rows(columns, rows, fmt, title=f"«{result.query.text}»: {total} sentences in {conversations} "
                                         f"conversations (page {page} of {pages}, {result.took_ms:.0f} ms)")
    notes = []
    if result.query.dropped:
        notes.append("left out as stop-words: " + ", ".join(result.query.dropped))
    if result.page.unknown:
        notes.append("never said in any conversation: " + ", ".join(result.page.unknown))
    for lemma, variants in result.page.variants.items():
        if variants:
            notes.append(f"fuzzy: {lemma} also as {', '.join(variants)}")
    for note in notes:
        report.err_console.print(f"[yellow]note:[/] {note}", highlight=False)
    sys.stdout.flush()


def _save(store: Any, query: str, fuzzy: bool, right: list, wrong: list, rule_id: str, title: str | None,
          speaker: str, category: str, severity: str, kind: str | None, status: str, rules: Path, overwrite: bool,
          reviewer: str | None, redactor: Any) -> None:
    """--save-rule: a supervisor's draft rule and test file written, tested, audited."""
    from qa.review import auth, report
    from qa.review.search import save_as_rule
    from qa.rules.drafting import DraftChoices, DraftError, RuleExists, rule_paths

    if not title:
        raise fail("--save-rule needs --title (the rule's title)")
    if not right:
        raise fail("--save-rule needs --right: the results (numbers or CONVERSATION:TURN) that are right")
    if auth.count_users(store):
        user = auth.get_user(store, reviewer) if reviewer else None
        if user is None or user.role != "supervisor":
            raise fail("only a supervisor may save a rule: --by NAME of a supervisor account (or QA_REVIEWER)")
    if redactor is None:
        from qa.text.redaction import get_redactor

        redactor = get_redactor()  # rule files are shared: their examples are always masked
    existing = [p for p in rule_paths(rules, rule_id) if p.exists()]
    if existing and not overwrite:
        if not sys.stdin.isatty() or not typer.confirm(f"Rule {rule_id} exists ({', '.join(map(str, existing))}); "
                                                       "overwrite it?"):
            raise fail(f"rule {rule_id} exists in {rules} ({', '.join(p.name for p in existing)}); pass "
                       "--overwrite to replace it, or choose another id")
        overwrite = True
    choices = DraftChoices(rule_id=rule_id, title=title, speaker=speaker, category=category, severity=severity,
                           kind=kind, status=status, author=reviewer or "")
    try:
        draft, paths = save_as_rule(store, query, fuzzy, right, wrong, choices, rules, overwrite, redactor)
    except RuleExists as exc:
        raise fail(str(exc)) from exc
    except (DraftError, LookupError) as exc:
        raise fail(str(exc)) from exc
    except OSError as exc:
        raise fail(f"{rules}: the rule could not be written: {exc}") from exc
    audit(store, reviewer, "rule_saved", None,
          f"{rule_id} from «{query}»{' (fuzzy)' if fuzzy else ''}: {len(right)} right, {len(wrong)} wrong, "
          f"{'overwrote' if existing else 'new'}, {paths[0]}")
    for note in draft.notes:
        report.console.print(f"  {note}", highlight=False)
    report.console.print(f"Saved draft rule {rule_id} ({draft.result.hits} hit, {draft.result.oks} ok cases pass): "
                         f"{paths[0]} and {paths[1]}. Check it with `qa check-rules {rules}`, apply it with "
                         f"`qa rescore --rules {rules}`.", highlight=False)
