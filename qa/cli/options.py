"""The options commands share (``--db``, ``--rules``, filters, the task runner…) and how their values are read:
the store opened once from ``--db``, dates in the configured time zone, a cluster checked before anything runs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qa.cli.output import fail

if TYPE_CHECKING:
    from qa.run.cluster import ClusterSettings
    from qa.store import Store

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
SourcesOpt = Annotated[bool, typer.Option(
    "--sources/--no-sources", help="Read the sources of qa.toml (PBX recording folders, call logs, operator "
                                   "directories) besides INBOX (default), or INBOX alone.")]
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
AudioRootOpt = Annotated[Path | None, typer.Option(
    help="Folder that relative call paths are resolved against (default: qa.toml's audio_root, else the current "
         "one).", envvar="QA_AUDIO_ROOT")]


def open_db(db: Path | str) -> Store:
    """The store ``--db`` names, opened once for the command (a bad setting: exit 2 naming it)."""
    from qa.store import StoreError, open_store

    try:
        return open_store(str(db))
    except StoreError as exc:
        raise fail(str(exc)) from exc


def existing_db(db: Path | str) -> Store:
    """:func:`open_db` for commands that need something stored already (exit 2: database not found)."""
    from qa.store import StoreError

    store = open_db(db)
    try:
        if not store.exists():
            raise fail(f"{store.display}: database not found (run `qa run` first)")
    except StoreError as exc:
        raise fail(str(exc)) from exc
    return store


def sources(read: bool = True, names: list[str] | None = None) -> list[Any]:
    """The ``[[sources]]`` of qa.toml (those named in ``names`` when given), their file-name patterns checked at
    once: a bad one exits 2 naming it, before the flow starts."""
    from qa.config import ConfigError, load_config
    from qa.inbox.sources import open_patterns

    if not read:
        return []
    try:
        configured = list(load_config().sources)
        for source in configured:
            open_patterns(source)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    if names:
        known = [s.name for s in configured]
        missing = [n for n in names if n not in known]
        if missing:
            raise fail(f"no source named {', '.join(map(repr, missing))} in qa.toml; its sources: "
                       f"{', '.join(known) or 'none'}")
        configured = [s for s in configured if s.name in names]
    return configured


def print_source_reports(reports: list[dict[str, Any]]) -> int:
    """A line per PBX source read by a run (red when it could not be read); how many could not be read."""
    from qa.review import report

    unread = 0
    for source in reports:
        if source["error"]:
            unread += 1
            report.err_console.print(f"[red]source not read:[/] {report.plain(source['summary'])}", highlight=False)
        else:
            report.console.print(f"Source {report.plain(source['summary'])}", highlight=False)
    if any(s["problems"] for s in reports):
        report.console.print("`qa sources check` lists the files and call-log rows behind each count.",
                             highlight=False)
    return unread


def channels(value: str | None) -> dict[str, str] | None:
    """``--channels operator,client`` as a left/right mapping."""
    if not value:
        return None
    parts = [p.strip() for p in value.split(",")]
    allowed = {"operator", "client", "unknown"}
    if len(parts) != 2 or not set(parts) <= allowed:
        raise typer.BadParameter("give two speakers for left,right: operator, client or unknown")
    if parts[0] == parts[1] != "unknown":
        raise typer.BadParameter(f"both channels {parts[0]}: the other speaker's words would be scored as the "
                                 f"{parts[0]}'s; give each channel its own speaker")
    return {"left": parts[0], "right": parts[1]}


def date(value: str | None, name: str) -> datetime | None:
    """``--since``/``--until`` as a moment in the configured time zone (``--until`` inclusive)."""
    from qa.store.queries import day_bound

    if value is None:
        return None
    try:
        return day_bound(value, end=name == "--until")
    except ValueError as exc:
        raise typer.BadParameter(f"{name}: expected an ISO date like 2026-11-27") from exc


def audio_root(given: Path | None) -> Path:
    """The folder relative call paths resolve against."""
    from qa.speech.audio_paths import audio_root as configured

    return configured(given)


def cluster(address: str | None, workers: int | None) -> ClusterSettings:
    """The task runner settings of --dask-address / --workers; an unreachable scheduler fails here, at once."""
    from qa.run.cluster import ClusterError, ClusterSettings, check_scheduler

    if address and workers:
        raise fail("give either --dask-address (an existing cluster) or --workers (a local one), not both")
    settings = ClusterSettings(address=address or None, workers=workers)
    if settings.address:
        try:
            check_scheduler(settings.address, settings.connect_timeout_s)
        except ClusterError as exc:
            raise fail(str(exc)) from exc
    return settings


def check_device(device: str | None) -> None:
    """Fail at once on a device the model cannot run on (instead of failing every call inside the flow)."""
    from qa.errors import ModelError
    from qa.speech.transcribe import check_device as check

    try:
        check(device)
    except ModelError as exc:
        raise fail(str(exc)) from exc


def check_model(model: str | None, device: str | None) -> None:
    """Fail at once (exit 2) on a Whisper model setting that points at nothing usable or a device the model cannot
    run on, instead of every call failing inside the flow."""
    from qa.errors import ModelError
    from qa.run.pipeline import PipelineSettings
    from qa.run.pipeline import check_model as check

    try:
        check(PipelineSettings(rules_dir="", transcription={"model": model, "device": device}))
    except ModelError as exc:
        raise fail(str(exc)) from exc


def filters(since: str | None, until: str | None, team: str | None, operator: str | None, rule: str | None,
            category: str | None, channel: str | None, min_score: float | None, max_score: float | None,
            flagged: bool | None, verdict: str | None = None) -> Any:
    """The :class:`qa.store.queries.Filters` of the filter options."""
    from qa.store import VERDICTS
    from qa.store.queries import Filters

    if channel not in (None, "call", "chat"):
        raise typer.BadParameter("--channel: call or chat")
    if verdict not in (None, *VERDICTS, "unreviewed", "all"):
        raise typer.BadParameter(f"--verdict: {', '.join(VERDICTS)}, unreviewed or all")
    return Filters(since=date(since, "--since"), until=date(until, "--until"), team=team, operator=operator,
                   rule=rule, category=category, channel=channel, min_score=min_score, max_score=max_score,
                   flagged=flagged, verdict=verdict)
