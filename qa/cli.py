"""The ``qa`` command line: a thin layer over the library and the nightly flow."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from qa.environment import apply_defaults

app = typer.Typer(
    name="qa",
    help="Offline speech and chat QA for Russian contact centers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_DB = "data/qa.duckdb"
DEFAULT_RULES = "scripts_rules"
DEFAULT_CACHE = "data/cache/transcripts"

DbOpt = Annotated[Path, typer.Option("--db", help="DuckDB file, or a DuckLake: 'ducklake:postgres:<conninfo>"
                                                  "[?data=<shared folder>]' (README: Store on several machines).",
                                     envvar="QA_DB")]
RulesOpt = Annotated[Path, typer.Option("--rules", help="Rule set folder.", envvar="QA_RULES")]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", help="Whisper model: 'base' (embedded) or a local CTranslate2 folder.",
                 envvar="QA_WHISPER_MODEL"),
]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="auto | cpu | cuda.", envvar="QA_DEVICE")]
ChannelsOpt = Annotated[
    str | None,
    typer.Option("--channels", help="Speakers of the left,right channels for calls without a sidecar "
                                    "mapping, e.g. 'client,operator'. Default: operator,client."),
]
FormatOpt = Annotated[str, typer.Option("--format", help="table | csv | json.")]
DaskAddressOpt = Annotated[
    str | None,
    typer.Option("--dask-address", help="Run the tasks on this existing Dask scheduler (tcp://HOST:8786).",
                 envvar="QA_DASK_ADDRESS"),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", help="Run the tasks on a local Dask cluster of N worker processes (one thread each).",
                 min=1),
]


def _channels(value: str | None) -> dict[str, str] | None:
    if not value:
        return None
    parts = [p.strip() for p in value.split(",")]
    allowed = {"operator", "client", "unknown"}
    if len(parts) != 2 or not set(parts) <= allowed:
        raise typer.BadParameter("give two speakers for left,right: operator, client or unknown")
    return {"left": parts[0], "right": parts[1]}


def _fail(message: str, code: int = 2) -> typer.Exit:
    from qa.report import err_console

    err_console.print(f"[red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _date(value: str | None, name: str) -> datetime | None:
    from qa.queries import day_bound

    if value is None:
        return None
    try:
        return day_bound(value, end=name == "--until")
    except ValueError as exc:
        raise typer.BadParameter(f"{name}: expected an ISO date like 2026-11-27") from exc


def _audio_root(given: Path | None) -> Path:
    from qa.audio_paths import audio_root

    return audio_root(given)


def _cluster(address: str | None, workers: int | None):
    """The task runner settings of --dask-address / --workers; an unreachable scheduler fails here, at once."""
    from qa.cluster import ClusterError, ClusterSettings, check_scheduler

    if address and workers:
        raise _fail("give either --dask-address (an existing cluster) or --workers (a local one), not both")
    settings = ClusterSettings(address=address or None, workers=workers)
    if settings.address:
        try:
            check_scheduler(settings.address, settings.connect_timeout_s)
        except ClusterError as exc:
            raise _fail(str(exc)) from exc
    return settings


def _check_device(device: str | None) -> None:
    """Fail at once on a device the model cannot run on (instead of failing every call inside the flow)."""
    from qa.errors import ModelError
    from qa.transcribe import check_device

    try:
        check_device(device)
    except ModelError as exc:
        raise _fail(str(exc)) from exc


@app.callback()
def main(ctx: typer.Context) -> None:
    """Offline speech and chat QA for Russian contact centers."""
    from qa.config import ConfigError, cli_defaults, configured_timezone, load_config

    # a served schedule keeps Prefect's INFO logs: they are the flow-run logs the UI shows
    apply_defaults(quiet_prefect=ctx.invoked_subcommand != "schedule")
    try:
        config = load_config()
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    if config.timezone:
        import os

        os.environ.setdefault("QA_TIMEZONE", config.timezone)
    if config.lake_data:
        import os

        os.environ.setdefault("QA_LAKE_DATA", str(config.lake_data))
    try:
        configured_timezone()  # a bad QA_TIMEZONE fails here, not inside a query
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    # qa.toml fills in what neither a flag nor its environment variable gave (click's default_map).
    defaults = cli_defaults(config)
    ctx.default_map = {name: defaults for name in ctx.command.commands}  # type: ignore[attr-defined]


@app.command()
def run(
    inbox: Annotated[Path, typer.Argument(help="Folder of calls, chats and transcripts.")],
    db: DbOpt = Path(DEFAULT_DB),
    rules: RulesOpt = Path(DEFAULT_RULES),
    model: ModelOpt = None,
    device: DeviceOpt = None,
    channels: ChannelsOpt = None,
    chunk_size: Annotated[int | None, typer.Option(
        help="Conversations per Prefect task: calls (default 4), and chats/transcripts too unless "
             "--text-chunk-size.", min=1)] = None,
    text_chunk_size: Annotated[int | None, typer.Option(
        help="Chats and transcripts per Prefect task (default: --chunk-size if given, else 100).", min=1)] = None,
    cache_dir: Annotated[str, typer.Option(help="Transcript cache folder ('' to disable).", envvar="QA_CACHE_DIR")]
    = DEFAULT_CACHE,
    dask_address: DaskAddressOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Run the nightly flow over INBOX, then print the flagged conversations."""
    from qa import pipeline, queries, report, store
    from qa.errors import ModelError, RuleFileError

    if not inbox.is_dir():
        raise _fail(f"{inbox}: inbox folder not found")
    try:
        store.check_not_damaged(db)  # before the flow starts, not after the Prefect server has
    except store.StoreError as exc:
        raise _fail(str(exc)) from exc
    _check_device(device)
    cluster = _cluster(dask_address, workers)
    from flows.nightly import nightly_flow

    nightly_qa = nightly_flow(cluster)
    try:
        with report.progress_bar("Scoring conversations", pipeline.on_progress):
            summary = nightly_qa(
                inbox=str(inbox), db=str(db), rules=str(rules), chunk_size=chunk_size, model=model, device=device,
                channels=_channels(channels), cache_dir=cache_dir.strip() or None, text_chunk_size=text_chunk_size,
            )
    except (RuleFileError, ModelError, store.StoreError) as exc:
        raise _fail(str(exc)) from exc
    report.console.print(
        f"Run {summary['run_id']}: {summary['discovered']} found, {summary['skipped']} already stored, "
        f"{summary['processed']} scored, {summary['failed']} failed, {summary['flagged']} flagged."
    )
    from qa.cluster import scheduler_lost

    lost = [e for e in summary["failures"] if scheduler_lost(e)] if summary.get("scheduler_lost") else []
    for error in summary["failures"]:
        if error not in lost:
            report.err_console.print(f"[red]failed:[/] {error}", highlight=False)
    if lost:  # one line, not one per conversation: the inputs are fine, the cluster went away
        raise _fail(f"{summary['scheduler_lost']}: lost the connection to the scheduler mid-run; {len(lost)} "
                    f"conversations not scored (recorded as failed, nothing half-written); re-run to score them",
                    code=2)
    columns, rows = queries.flagged(db)
    in_run = {cid for cid, _ in summary["flagged_ids"]}
    title = "Flagged in this run"
    if summary["processed"] == 0:
        in_run, title = {r[0] for r in rows}, "Flagged (nothing new in this run; all stored)"
    compact = report.compact_flagged(columns, [r for r in rows if r[0] in in_run])
    if compact[1]:
        report.render_rows(*compact, title=title)
    if summary["processed"] == 0 and summary["failed"] > 0:
        raise typer.Exit(1)


@app.command()
def score(
    file: Annotated[Path, typer.Argument(help="A call (audio), *.chat.json or *.transcript.json.")],
    rules: RulesOpt = Path(DEFAULT_RULES),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    channels: ChannelsOpt = None,
) -> None:
    """Score one conversation without a database."""
    from qa import pipeline, report
    from qa.errors import ModelError, QAInputError
    from qa.inputs import discover_file
    from qa.serialize import scored_to_dict

    _check_device(device)
    settings = pipeline.PipelineSettings(rules_dir=str(rules), transcription={"model": model, "device": device},
                                         channels=_channels(channels))
    try:
        item = discover_file(file)
        [prepared] = pipeline.prepare_chunk([item], settings)
        if not hasattr(prepared, "utterances"):
            raise _fail(prepared.error)
        scored = pipeline.get_scorer(rules).score(prepared)
    except (QAInputError, ModelError) as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        sys.stdout.write(json.dumps(scored_to_dict(scored), ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        report.print_scored(scored)


def _filters(since: str | None, until: str | None, team: str | None, operator: str | None, rule: str | None,
             category: str | None, channel: str | None, min_score: float | None, max_score: float | None,
             flagged: bool | None, verdict: str | None = None):
    from qa.queries import Filters
    from qa.store import VERDICTS

    if channel not in (None, "call", "chat"):
        raise typer.BadParameter("--channel: call or chat")
    if verdict not in (None, *VERDICTS, "unreviewed", "all"):
        raise typer.BadParameter(f"--verdict: {', '.join(VERDICTS)}, unreviewed or all")
    return Filters(since=_date(since, "--since"), until=_date(until, "--until"), team=team, operator=operator,
                   rule=rule, category=category, channel=channel, min_score=min_score, max_score=max_score,
                   flagged=flagged, verdict=verdict)


def _warn_typos(db: Path, filters, skip: tuple[str, ...] = ()) -> bool:
    """Warn about filter values that match nothing stored, naming the nearest known one; whether any did."""
    from qa import queries, report
    from qa.store import exists

    if not exists(db):
        return False
    warnings = queries.unknown_filter_values(db, filters, skip)
    for warning in warnings:
        report.err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    return bool(warnings)


SinceOpt = Annotated[str | None, typer.Option(help="From this date (ISO, e.g. 2026-11-27).")]
UntilOpt = Annotated[str | None, typer.Option(help="Through this date (ISO, inclusive; dates in qa.toml's time zone, "
                                                   "default Europe/Moscow).")]
TeamOpt = Annotated[str | None, typer.Option(help="Only this team.")]
OperatorOpt = Annotated[str | None, typer.Option(help="Only this operator id.")]
RuleOpt = Annotated[str | None, typer.Option(help="Only conversations with a finding of this rule.")]
CategoryOpt = Annotated[str | None, typer.Option(help="Only conversations with a finding of this category.")]
ChannelOpt = Annotated[str | None, typer.Option(help="call | chat.")]
MinScoreOpt = Annotated[float | None, typer.Option(help="Score at least this.")]
MaxScoreOpt = Annotated[float | None, typer.Option(help="Score at most this.")]


def _print_rows(columns: list[str], rows: list, fmt: str, title: str | None = None) -> None:
    from qa import report

    if fmt not in ("table", "csv", "json"):
        raise typer.BadParameter("--format: table, csv or json")
    text = report.render_rows(columns, rows, fmt, title=title)
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


@app.command()
def flagged(
    db: DbOpt = Path(DEFAULT_DB),
    since: SinceOpt = None,
    until: UntilOpt = None,
    team: TeamOpt = None,
    operator: OperatorOpt = None,
    rule: RuleOpt = None,
    category: CategoryOpt = None,
    channel: ChannelOpt = None,
    min_score: MinScoreOpt = None,
    max_score: MaxScoreOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """The team lead's list: flagged conversations, escalations first, with reasons and the worst quote."""
    from qa import queries, store

    filters = _filters(since, until, team, operator, rule, category, channel, min_score, max_score, True)
    try:
        columns, rows = queries.flagged(db, filters)
    except store.StoreError as exc:
        raise _fail(str(exc)) from exc
    typo = _warn_typos(db, filters)
    _print_rows(columns, rows, fmt, title=f"Flagged conversations ({len(rows)})")
    if typo and not rows:
        raise typer.Exit(1)


@app.command()
def stats(
    db: DbOpt = Path(DEFAULT_DB),
    by: Annotated[str, typer.Option(help="operator | team | day | day-operator | rule.")] = "operator",
    since: SinceOpt = None,
    until: UntilOpt = None,
    team: TeamOpt = None,
    operator: OperatorOpt = None,
    channel: ChannelOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """Scores per operator, team or day (conversations, flagged, escalations, average score), or rule hits."""
    from qa import queries, store

    filters = _filters(since, until, team, operator, None, None, channel, None, None, None)
    try:
        if by == "rule":
            columns, rows = queries.rule_hits(db, filters, limit=1000)
        elif by in queries.STATS_GROUPS:
            columns, rows = queries.stats(db, by, filters)
        else:
            raise typer.BadParameter(f"--by: one of {', '.join([*queries.STATS_GROUPS, 'rule'])}")
    except store.StoreError as exc:
        raise _fail(str(exc)) from exc
    typo = _warn_typos(db, filters)
    _print_rows(columns, rows, fmt, title=f"Scores by {by}")
    if typo and not rows:
        raise typer.Exit(1)


@app.command()
def review(
    conversation_id: Annotated[str, typer.Argument(help="Conversation id.")],
    verdict: Annotated[str, typer.Argument(help="confirmed | false_positive | disputed.")],
    reviewer: Annotated[str, typer.Option("--by", help="Who gives the verdict.", envvar="QA_REVIEWER")],
    finding: Annotated[str | None, typer.Option(
        help="Finding key (from `qa findings`); without it the verdict is on the whole conversation.")] = None,
    comment: Annotated[str | None, typer.Option(help="Why.")] = None,
    db: DbOpt = Path(DEFAULT_DB),
) -> None:
    """Record a supervisor's verdict on a finding or a conversation (kept across re-scoring)."""
    from qa import report, store

    try:
        review_id = store.add_review(db, store.Review(conversation_id, verdict, reviewer, finding, comment))
    except (ValueError, LookupError, store.StoreError) as exc:
        raise _fail(str(exc.args[0]) if exc.args else str(exc)) from exc
    _audit(db, reviewer, "verdict", conversation_id, f"{finding or 'whole conversation'}: {verdict} (qa review)")
    report.console.print(f"Recorded {verdict} on {conversation_id} {finding or '(conversation)'}: {review_id}")


@app.command()
def findings(
    db: DbOpt = Path(DEFAULT_DB),
    conversation: Annotated[str | None, typer.Option(help="Only this conversation id.")] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    team: TeamOpt = None,
    operator: OperatorOpt = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule.")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    verdict: Annotated[str | None, typer.Option(
        help="confirmed | false_positive | disputed | unreviewed.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    fmt: FormatOpt = "table",
) -> None:
    """Current findings with their keys and verdicts (the keys `qa review --finding` takes)."""
    from dataclasses import replace

    from qa import queries, store

    filters = replace(_filters(since, until, team, operator, rule, category, None, None, None, None, verdict),
                      conversation_id=conversation)
    try:
        found = queries.findings(db, filters, limit=limit)
    except store.StoreError as exc:
        raise _fail(str(exc)) from exc
    typo = _warn_typos(db, filters)
    columns = ["conversation_id", "finding_key", "rule_id", "severity", "speaker", "start_s", "quote", "verdict"]
    _print_rows(columns, [[f[c] for c in columns] for f in found], fmt, title=f"Findings ({len(found)})")
    if typo and not found:
        raise typer.Exit(1)


@app.command()
def precision(db: DbOpt = Path(DEFAULT_DB), fmt: FormatOpt = "table") -> None:
    """Rule precision from supervisors' verdicts: share of reviewed findings marked false positive, per rule."""
    from qa import queries, store

    try:
        columns, rows = queries.rule_precision(db)
    except store.StoreError as exc:
        raise _fail(str(exc)) from exc
    _print_rows(columns, rows, fmt, title="Rule precision (noisiest first)")


@app.command("check-rules")
def check_rules(
    folder: Annotated[Path, typer.Argument(help="Rule set folder.")] = Path(DEFAULT_RULES),
    run_tests: Annotated[bool, typer.Option("--tests/--no-tests", help="Also run each rule's test file.")] = True,
) -> None:
    """Validate a rule set folder and run every rule's tests."""
    from qa import report
    from qa.errors import RuleFileError
    from qa.rule_tests import run_rule_tests
    from qa.ruleset import check_ruleset_errors

    errors = check_ruleset_errors(folder)
    for err in errors:
        report.err_console.print(f"[red]error:[/] {err}", highlight=False)
    if errors:
        raise typer.Exit(2)
    if not run_tests:
        report.console.print(f"{folder}: rules valid")
        return
    try:
        results = run_rule_tests(folder)
    except RuleFileError as exc:
        raise _fail(str(exc)) from exc
    bad = [r for r in results if not r.ok]
    for r in results:
        mark = "[green]ok[/]  " if r.ok else "[red]FAIL[/]"
        report.console.print(f"{mark} {r.rule_id}: {r.hits} hit, {r.oks} ok", highlight=False)
        for failure in r.failures:
            report.console.print(f"      {failure}", highlight=False)
    report.console.print(f"{len(results) - len(bad)} passed, {len(bad)} failed")
    if bad:
        raise typer.Exit(1)


@app.command()
def rescore(
    db: DbOpt = Path(DEFAULT_DB),
    rules: RulesOpt = Path(DEFAULT_RULES),
    chunk_size: Annotated[int, typer.Option(help="Conversations per page (read, scored and written together).",
                                            min=1)] = 500,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Carry on an interrupted rescore of the "
                                         "same rule set version after its last written page (default), or "
                                         "start over.")] = True,
    reuse_tokens: Annotated[bool, typer.Option("--reuse-tokens/--no-reuse-tokens", help="Score from the stored "
                                               "tokens where the text analysis has not changed (default), or "
                                               "analyse every utterance again.")] = True,
    dask_address: DaskAddressOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Recompute findings and scores from stored utterances with a (changed) rule set; keeps older versions.

    Streams the store page by page (never all of it in memory) through the same task runner as `qa run`."""
    from qa import pipeline, report, store
    from qa.errors import RuleFileError

    try:
        if not store.exists(db):
            raise _fail(f"{store.display_name(db)}: database not found (run `qa run` first)")
    except store.StoreError as exc:
        raise _fail(str(exc)) from exc
    if not rules.is_dir():
        raise _fail(f"{rules}: rule set folder not found")
    cluster = _cluster(dask_address, workers)
    from flows.rescore import rescore_flow

    try:
        with report.progress_bar("Rescoring conversations", pipeline.on_progress):
            summary = rescore_flow(cluster)(db=str(db), rules=str(rules), chunk_size=chunk_size, resume=resume,
                                            reuse_tokens=reuse_tokens)
    except (RuleFileError, store.StoreError) as exc:
        raise _fail(str(exc)) from exc
    if summary["resumed_after"]:
        report.console.print(f"Resumed rescore {summary['run_id']} after {summary['resumed_after']}.",
                             highlight=False)
    report.console.print(
        f"Rescored {summary['processed']} conversations with rule set {summary['ruleset_version']}: "
        f"{summary['flagged']} flagged, {summary['failed']} failed "
        f"({summary['reused']} from stored tokens, {summary['reanalysed']} analysed again).", highlight=False)
    if summary.get("scheduler_lost"):  # the pages not written are not failures: a resume scores them
        raise _fail(f"{summary['scheduler_lost']}: lost the connection to the scheduler mid-rescore; rescore "
                    f"{summary['run_id']} stopped after {summary['written_through'] or 'no page'} (nothing "
                    f"half-written); run `qa rescore` again to carry on from there", code=2)
    if summary["failed"] and not summary["processed"]:
        raise typer.Exit(1)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A SELECT statement.")],
    db: DbOpt = Path(DEFAULT_DB),
    fmt: FormatOpt = "table",
) -> None:
    """Run a read-only SQL query (safe while the nightly flow writes: it waits for the writer)."""
    from qa import report, store

    try:
        columns, rows = store.query(db, query)
    except store.StoreError as exc:
        raise _fail(str(exc)) from exc
    except Exception as exc:  # a SQL error from DuckDB
        raise _fail(f"query failed: {exc}") from exc
    text = report.render_rows(columns, rows, fmt)
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="Output folder (created; files are only written inside it).")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl | csv | html (one self-contained page).")] = "jsonl",
    db: DbOpt = Path(DEFAULT_DB),
    rule: Annotated[str | None, typer.Option(help="Only this rule.")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category (e.g. stop_word, escalation).")] = None,
    team: TeamOpt = None,
    operator: OperatorOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    verdict: Annotated[str | None, typer.Option(
        help="Only findings with this verdict: confirmed | false_positive | disputed | unreviewed | all "
             "(default: all but false_positive).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many examples.")] = 20,
    context: Annotated[float, typer.Option(help="Seconds of context turns (and audio) around each finding.")] = 10.0,
    clip_format: Annotated[str, typer.Option(help="ogg (Opus) | mp3.")] = "ogg",
    clips: Annotated[bool, typer.Option("--clips/--no-clips", help="Cut an audio clip for each call finding.")]
    = True,
    redact: Annotated[bool, typer.Option("--redact/--no-redact", help="Replace personal data in text and beep it "
                                         "in clips (on by default; --no-redact exports it as spoken).")] = True,
    audio_root: Annotated[Path | None, typer.Option(
        help="Folder that relative call paths are resolved against (default: qa.toml's audio_root, else the "
             "current one).", envvar="QA_AUDIO_ROOT")] = None,
    good: Annotated[bool, typer.Option("--good", help="Good examples: script steps done well (greeting, "
                                       "farewell…) from the best-scored conversations, instead of findings. --rule "
                                       "takes a script rule or rule.step, --category a step category, --verdict "
                                       "the verdict on the conversation.")] = False,
    rules: Annotated[Path, typer.Option("--rules", help="Rule set folder the HTML page takes rule titles from.",
                                        envvar="QA_RULES")] = Path(DEFAULT_RULES),
) -> None:
    """Coaching examples with context, verdicts and audio clips; personal data redacted unless --no-redact.

    Exit 3 when the export was written but some call examples have no clip because their audio file is missing
    or unreadable (each is listed; --no-clips exports text only)."""
    from qa import export as exporter
    from qa import report, store

    if fmt not in exporter.FORMATS:
        raise typer.BadParameter(f"--format: one of {', '.join(exporter.FORMATS)}")
    if clip_format not in exporter.CLIP_MIME:
        raise typer.BadParameter("--clip-format: ogg or mp3")
    filters = _filters(since, until, team, operator, rule, category, None, None, None, None, verdict)
    if not redact:
        report.err_console.print(
            "[bold red]WARNING: --no-redact: the export will contain personal data (phone, card, passport, "
            "INN and SNILS numbers, e-mails, dates of birth, names) in its text and audio clips exactly as "
            "spoken. Keep it inside the company.[/]", highlight=False)
    redactor = None
    if redact:
        from qa.redaction import get_redactor

        redactor = get_redactor()
    options = exporter.ExportOptions(out_dir=out, fmt=fmt, context_s=context, clips=clips, clip_format=clip_format,
                                     redact=redact, audio_root=_audio_root(audio_root), limit=limit, good=good,
                                     rules_dir=rules)
    try:
        result = exporter.export_examples(db, filters, options, redactor)
    except store.StoreError as exc:
        raise _fail(str(exc)) from exc
    typo = _warn_typos(db, filters, skip=("rule", "category") if good else ())
    missing = result.missing_clips
    no_clip: dict[tuple[str, str], int] = {}
    for example in result.examples:
        if example.clip_error:
            key = (example.conversation_id, example.clip_error)
            no_clip[key] = no_clip.get(key, 0) + 1
    for (cid, why), count in no_clip.items():
        colour = "red" if any(e.conversation_id == cid for e in missing) else "yellow"
        report.err_console.print(f"[{colour}]no clip[/] {cid} ({count} examples): {why}", highlight=False)
    redacted = ", ".join(f"{k} {v}" for k, v in sorted(result.redacted.items())) or "none found"
    report.console.print(
        f"Exported {len(result.examples)} examples to {result.out_file} with {len(result.clips)} clips; "
        + (f"redacted: {redacted}." if result.redaction else "[bold red]NOT redacted[/]."), highlight=False)
    shown = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(filters).items() if v is not None}
    _audit(db, None, "export", None, f"{fmt}{', good' if good else ''}, {len(result.examples)} examples, "
           f"{len(missing)} without clip, {'redacted' if redact else 'NOT redacted'}, to {result.out_file}: {shown}")
    if typo and not result.examples:
        raise typer.Exit(1)
    if missing:
        calls = len({e.conversation_id for e in missing})
        raise _fail(f"{len(missing)} requested clips could not be cut: the audio of {calls} calls is missing or "
                    "unreadable (listed above; set audio_root in qa.toml or --audio-root, or pass --no-clips); the "
                    "export was written without them", code=3)


@app.command()
def serve(
    db: DbOpt = Path(DEFAULT_DB),
    host: Annotated[str, typer.Option(help="Address to listen on (keep 127.0.0.1 unless behind a proxy).")] =
    "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", envvar="QA_PORT")] = 8765,
    audio_root: Annotated[Path | None, typer.Option(
        help="Folder that relative call paths in the database are resolved against (default: qa.toml's "
             "audio_root, else the current one).", envvar="QA_AUDIO_ROOT")]
    = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Loopback only: serve without sign-in when the "
                                          "database has no account.")] = False,
    insecure_no_auth: Annotated[bool, typer.Option("--insecure-no-auth", help="Serve any address without "
                                                   "sign-in (warns loudly).")] = False,
    trust_proxy_header: Annotated[str | None, typer.Option(help="Trust this header (e.g. X-Remote-User) as the "
                                                           "signed-in user, set by an authenticating reverse proxy; "
                                                           "the user needs an account here.")] = None,
    secure_cookies: Annotated[bool, typer.Option("--secure-cookies/--no-secure-cookies", help="Mark session "
                                                 "cookies Secure (set when served over https).")] = False,
    rules: Annotated[Path, typer.Option("--rules", help="Rule set folder the page takes rule titles from.",
                                        envvar="QA_RULES")] = Path(DEFAULT_RULES),
) -> None:
    """The review web page: flagged list, conversation pages with audio, verdicts, dashboard, rule precision."""
    from qa import report, store
    from qa.web.app import serve as serve_app

    try:
        if not store.exists(db):
            raise _fail(f"{store.display_name(db)}: database not found (run `qa run` first)")
    except store.StoreError as exc:
        raise _fail(str(exc)) from exc
    mode = _serve_auth_mode(db, host, no_auth, insecure_no_auth, trust_proxy_header)
    report.console.print(f"Review page on http://{host}:{port}/ (database {store.display_name(db)}); Ctrl+C stops it.")
    serve_app(db, host=host, port=port, audio_root=_audio_root(audio_root), auth_mode=mode,
              proxy_header=trust_proxy_header, secure_cookies=secure_cookies, rules_dir=rules)


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="Folder for qa.toml, an editable rules/ copy, inbox/ and data/.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing qa.toml and rules/.")] = False,
) -> None:
    """Start a working folder: qa.toml (db, rules, inbox, cache, model, audio root, time zone) and the default rules."""
    from qa import report
    from qa.config import CONFIG_ENV, init_project

    try:
        written = init_project(folder, force=force)
    except FileExistsError as exc:
        raise _fail(str(exc)) from exc
    for path in written:
        report.console.print(f"wrote {path}", highlight=False)
    report.console.print(f"Run `qa` inside {folder} or set {CONFIG_ENV}={written[0].resolve()}", highlight=False)


@app.command()
def purge(
    older_than: Annotated[str, typer.Option("--older-than", help="Retention period, e.g. 180d or 26w.")],
    db: DbOpt = Path(DEFAULT_DB),
) -> None:
    """Remove audio paths, transcripts and quotes of conversations past the retention period; keep scores."""
    from qa import report, store
    from qa.retention import parse_age
    from qa.retention import purge as purge_old

    try:
        result = purge_old(db, parse_age(older_than))
    except ValueError as exc:
        raise typer.BadParameter(f"--older-than: {exc}") from exc
    except store.StoreError as exc:
        raise _fail(str(exc)) from exc
    report.console.print(f"Purged {result.conversations} conversations that started before "
                         f"{result.cutoff:%Y-%m-%d %H:%M} UTC; scores and aggregates kept.", highlight=False)


def _audit(db: Path, username: str | None, action: str, conversation_id: str | None, detail: str) -> None:
    """An audit line for a command (exports and verdicts given outside the page); the OS user when no name."""
    import getpass

    from qa import auth, report, store

    try:
        auth.audit(db, username or f"{getpass.getuser()} (shell)", action, conversation_id, detail, "cli")
    except store.StoreError as exc:
        report.err_console.print(f"[yellow]warning:[/] not written to the audit table: {exc}", highlight=False)


def _serve_auth_mode(db: Path, host: str, no_auth: bool, insecure: bool, proxy_header: str | None) -> str:
    """accounts / proxy / none; refuses to serve without accounts unless told to (loudly off loopback)."""
    from qa import auth, report

    if proxy_header:
        return "proxy"
    if auth.count_users(db):
        return "accounts"
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if insecure or (no_auth and loopback):
        if not loopback:
            report.err_console.print(f"[bold red]WARNING: serving {host} with NO SIGN-IN: anyone who can reach it "
                                     "sees every conversation and can give verdicts.[/]")
        return "none"
    hint = f"add the first account: qa users add NAME --db {db} --role supervisor"
    if loopback:
        raise _fail(f"{db}: no accounts yet; {hint} (or pass --no-auth for a local look without sign-in)")
    raise _fail(f"{db}: refusing to serve {host} without any account; {hint} "
                "(or --insecure-no-auth, not recommended)")


@app.command("prepare-model")
def prepare_model(model: ModelOpt = None) -> None:
    """Prepare (join and verify) the embedded Whisper model, or check a local model folder."""
    from qa import report
    from qa.errors import ModelError
    from qa.whisper_model import resolve_model

    try:
        path = resolve_model(model)
    except ModelError as exc:
        raise _fail(str(exc)) from exc
    report.console.print(f"Whisper model ready: {path}")


@app.command()
def schedule(
    inbox: Annotated[Path, typer.Argument(help="Folder the nightly run reads.")],
    db: DbOpt = Path(DEFAULT_DB),
    rules: RulesOpt = Path(DEFAULT_RULES),
    cron: Annotated[str, typer.Option(help="Cron schedule, Europe/Moscow time.")] = "0 2 * * *",
    dask_address: DaskAddressOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Serve the scheduled `nightly` deployment (needs a Prefect server: see README)."""
    from flows.nightly import serve_nightly

    if not inbox.is_dir():
        raise _fail(f"{inbox}: inbox folder not found")
    if not rules.is_dir():
        raise _fail(f"{rules}: rule set folder not found")

    from qa.lake import is_lake

    cluster = _cluster(dask_address, workers)
    serve_nightly(str(inbox.resolve()), str(db) if is_lake(db) else str(db.resolve()), str(rules.resolve()), cron,
                  cluster)


from qa.cli_users import users_app  # noqa: E402

app.add_typer(users_app, name="users")

if __name__ == "__main__":
    app()
