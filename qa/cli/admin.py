"""Setting up and looking after a working folder: ``qa init`` (qa.toml and an editable rule set), ``qa
prepare-model`` (the embedded Whisper model), ``qa purge`` (retention) and ``qa compact`` (a lake's upkeep)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qa.cli import options as opt
from qa.cli.output import fail


def init(
    folder: Annotated[Path, typer.Argument(help="Folder for qa.toml, an editable rules/ copy, inbox/ and data/.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing qa.toml and rules/.")] = False,
) -> None:
    """Start a working folder: qa.toml (db, rules, inbox, cache, model, audio root, time zone) and the default rules."""
    from qa.config import CONFIG_ENV, init_project
    from qa.review import report

    try:
        written = init_project(folder, force=force)
    except FileExistsError as exc:
        raise fail(str(exc)) from exc
    for path in written:
        report.console.print(f"wrote {path}", highlight=False)
    report.console.print(f"Run `qa` inside {folder} or set {CONFIG_ENV}={written[0].resolve()}", highlight=False)


def prepare_model(model: opt.ModelOpt = None) -> None:
    """Prepare (join and verify) the embedded Whisper model, or check a local model folder; check the speaker model."""
    from qa.errors import ModelError
    from qa.review import report
    from qa.speech.whisper_model import resolve_model

    try:
        path = resolve_model(model)
    except ModelError as exc:
        raise fail(str(exc)) from exc
    report.console.print(f"Whisper model ready: {path}")
    from qa.speech.diarize import SpeakerModelMissing, get_encoder
    from qa.speech.diarize.encoder import weights_path

    try:
        get_encoder()
        report.console.print(f"Speaker model ready: {weights_path()} (mono calls: speakers told by voice)")
    except SpeakerModelMissing as exc:
        report.console.print(f"[yellow]Speaker model: {exc}; mono calls keep speaker 'unknown'[/yellow]")


def purge(
    older_than: Annotated[str, typer.Option("--older-than", help="Retention period, e.g. 180d or 26w.")],
    db: opt.DbOpt = Path(opt.DEFAULT_DB),
) -> None:
    """Remove audio paths, transcripts and quotes of conversations past the retention period; keep scores."""
    from qa.review import report
    from qa.store import StoreError
    from qa.store.retention import parse_age
    from qa.store.retention import purge as purge_old

    try:
        age = parse_age(older_than)
    except ValueError as exc:
        raise typer.BadParameter(f"--older-than: {exc}") from exc
    try:
        result = purge_old(opt.open_db(db), age)
    except StoreError as exc:
        raise fail(str(exc)) from exc
    report.console.print(f"Purged {result.conversations} conversations that started before "
                         f"{result.cutoff:%Y-%m-%d %H:%M} UTC; scores and aggregates kept.", highlight=False)


def compact(
    db: opt.DbOpt = Path(opt.DEFAULT_DB),
    keep: Annotated[str, typer.Option("--keep", help="Keep the lake's snapshots this long (time travel): 30m, 1h, "
                                                     "2d, 1w or 0.")] = "1d",
    grace: Annotated[str, typer.Option("--grace", help="Delete a file nothing refers to once this long unused: 30m, "
                                                       "1h… or 0.")] = "1h",
) -> None:
    """Compact a DuckLake: small files merged, old snapshots expired, unused files deleted (a file: checkpointed)."""
    from qa.review import report
    from qa.store import StoreError
    from qa.store.compact import compact as compact_store
    from qa.store.compact import parse_span

    ages = {}
    for name, value in (("--keep", keep), ("--grace", grace)):
        try:
            ages[name] = parse_span(value)
        except ValueError as exc:
            raise typer.BadParameter(f"{name}: {exc}") from exc
    try:
        done = compact_store(opt.existing_db(db), keep=ages["--keep"], grace=ages["--grace"])
    except StoreError as exc:
        raise fail(str(exc)) from exc
    if done.store_kind == "duckdb":
        report.console.print(f"A DuckDB file needs no compaction: checkpointed in {done.seconds:.1f} s.",
                             highlight=False)
        return
    report.console.print(f"Compacted in {done.seconds:.1f} s: files in use {done.files_before} -> "
                         f"{done.files_after}; {done.snapshots_expired} snapshots expired, {done.files_deleted} "
                         "files deleted.", highlight=False)
