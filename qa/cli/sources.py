"""The PBX sources of qa.toml, for whoever connects the PBX: ``qa sources check`` (a dry run: what `qa run` would
read from each recording, and every file or call-log row that would be skipped, refused or read with a doubt)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from qa.cli import options as opt
from qa.cli.output import fail

sources_app = typer.Typer(help="PBX sources of qa.toml: recording folders, call logs, operator directories.",
                          no_args_is_help=True)

_SHORT = {"sidecar": "sidecar", "call_log": "log", "file_name": "name", "directory": "dir"}
# fields listed in the «from» column, by the name shown
_SHOWN = {"id": "id", "started_at": "time", "direction": "direction", "operator_id": "operator", "team": "team",
          "channels": "channels"}
COLUMNS = ["file", "id", "operator", "team", "started_at", "direction", "channels", "from"]


def _channels(info: Any, paired: bool) -> str:
    if not info.channels:
        return "mono" if not paired else "?"
    return " ".join(f"{k}={v}" for k, v in info.channels.items())


def _row(call: Any, zone: str) -> list[Any]:
    info = call.info
    started = info.started_at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S") if info.started_at else ""
    origin = " ".join(f"{name}:{_SHORT.get(info.sources[k], info.sources[k])}" for k, name in _SHOWN.items()
                      if k in info.sources)
    return [call.name, info.conversation_id, info.operator_id or "", info.team or "", started,
            info.metadata.get("direction") or "", _channels(info, call.paired), origin]


def _as_json(scan: Any, rows: list[Any]) -> dict[str, Any]:
    calls = []
    for call in rows:
        info = call.info
        calls.append({"file": call.name, "files": [str(f) for f in call.files], "id": info.conversation_id,
                      "operator_id": info.operator_id, "team": info.team,
                      "started_at": info.started_at.isoformat() if info.started_at else None,
                      "channels": info.channels, "sidecar": str(call.sidecar) if call.sidecar else None,
                      "metadata": info.metadata, "sources": info.sources})
    return {**scan.report.as_dict(), "calls": calls}


def _print_report(scan: Any, limit: int, shown: int) -> None:
    from qa.inbox.report import PROBLEMS, SKIPPED
    from qa.review import report as out

    r = scan.report
    settings = scan.settings
    out.console.print(f"[bold]Source {out.plain(settings.name)}[/]: {out.plain(r.folder)}", highlight=False)
    if settings.call_log:
        out.console.print(f"  call log: {settings.call_log.path} ({settings.call_log.format}, "
                          f"{r.counts['log_rows']} rows)", highlight=False, markup=False)
    if settings.directory:
        out.console.print(f"  directory: {settings.directory.path} ({r.counts['directory_operators']} operators)",
                          highlight=False, markup=False)
    for note in r.notes:
        out.console.print(f"  read: {note}", highlight=False, markup=False)
    if r.error:
        out.err_console.print(f"[red]  not read:[/] {out.plain(r.error)}", highlight=False)
        return
    out.console.print(f"  {r.summary_line()}", highlight=False, markup=False)
    rows = [_row(c, settings.timezone) for c in scan.calls[:shown]]
    if rows:
        more = f" (first {shown} of {len(scan.calls)}; --limit 0 for all)" if shown < len(scan.calls) else ""
        out.render_rows(COLUMNS, rows, title=f"What `qa run` would read{more}; times in {settings.timezone}")
    for kinds, heading in ((SKIPPED, "Skipped"), (PROBLEMS, "Problems")):
        found = [k for k in kinds if r.problems[k]]
        if not found:
            continue
        out.console.print(f"[bold]{heading}[/]", highlight=False)
        for kind in found:
            out.console.print(f"  {r.problems[kind]} {kinds[kind]}:", highlight=False, markup=False)
            examples = r.examples.get(kind, [])
            for example in examples[:limit or len(examples)]:
                out.console.print(f"    - {example}", highlight=False, markup=False)
            hidden = r.problems[kind] - min(len(examples), limit or len(examples))
            if hidden > 0:
                out.console.print(f"    … and {hidden} more", highlight=False)


@sources_app.command("check")
def check(
    source: Annotated[list[str] | None, typer.Option(
        "--source", help="Only this source (its name in qa.toml); repeat for several.")] = None,
    limit: Annotated[int, typer.Option(help="Calls shown per source, and examples per problem (0: all).",
                                       min=0)] = 20,
    fmt: opt.FormatOpt = "table",
) -> None:
    """Dry run over the PBX sources of qa.toml: what would be read for each call (id, operator, team, start,
    direction, channel roles, where each field came from), and the counts and lists of files matching no pattern,
    call-log rows with no file, files with no call-log row, unknown extensions, duplicate ids and other problems.

    Reads names, call logs, directories and sidecars only: no audio is decoded, nothing is stored. Exit 1 when a
    source cannot be read (its folder, call log or directory); 2 for a bad qa.toml."""
    from qa.config import ConfigError
    from qa.inbox.sources import scan_source

    if fmt not in ("table", "json"):
        raise typer.BadParameter("--format: table or json")
    chosen = opt.sources(True, source)
    if not chosen:
        raise fail("qa.toml has no [[sources]]: see README, «Connect your PBX»")
    scans = []
    for settings in chosen:
        try:
            scans.append(scan_source(settings))
        except ConfigError as exc:
            raise fail(str(exc)) from exc
    if fmt == "json":
        sys.stdout.write(json.dumps([_as_json(s, s.calls[:limit or len(s.calls)]) for s in scans],
                                    ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        for scan in scans:
            _print_report(scan, limit, limit or len(scan.calls))
    if any(s.report.error for s in scans):
        raise typer.Exit(1)
