"""Human-readable output: rich tables for the terminal, Markdown for Prefect artifacts, CSV/JSON exports."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from qa.records import ScoredConversation

console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)


def plain(text: str) -> str:
    """``text`` to print as it is (square brackets in file names and messages are not rich markup)."""
    return escape(text)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ", timespec="minutes") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, list | tuple):
        return "; ".join(_cell(v) for v in value)
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def render_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str = "table",
                title: str | None = None) -> str | None:
    """Print rows as a rich table, or return them as CSV/JSON text."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        writer.writerows([[_cell(_jsonable(v)) if not isinstance(v, str) else v for v in r] for r in rows])
        return buf.getvalue()
    if fmt == "json":
        return json.dumps([{c: _jsonable(v) for c, v in zip(columns, r, strict=True)} for r in rows],
                          ensure_ascii=False, indent=2, default=str)
    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*[_cell(_jsonable(v)) for v in r])
    console.print(table)
    return None


def _short(reason: str, keep: int = 2) -> str:
    head, _, items = reason.partition(": ")
    names = items.split(", ")
    if len(names) <= keep:
        return reason
    return f"{head}: {', '.join(names[:keep])} +{len(names) - keep}"


def compact_flagged(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[list[str], list[list[Any]]]:
    """The flagged list cut to what fits a terminal: id, who, score, why and the worst quote."""
    out = []
    for row in rows:
        r = dict(zip(columns, row, strict=True))
        reasons = [_short(x) for x in _jsonable(r["reasons"]) or [] if not x.startswith("missed step")]
        quote = r["top_quote"] or ""
        out.append([r["conversation_id"], r["channel"], r["operator_id"], f"{r['total']:g}",
                    "; ".join(reasons), quote if len(quote) <= 70 else quote[:67] + "…"])
    return ["conversation", "channel", "operator", "score", "why", "quote"], out


def print_scored(scored: ScoredConversation) -> None:
    """A readable report of one scored conversation."""
    conv, s = scored.conversation, scored.score
    verdict = "[green]passed[/]" if s.passed else "[red]failed[/]"
    flags = (", [yellow]flagged[/]" if s.flagged else "") + (", [magenta]escalation[/]" if s.escalation else "")
    console.print(f"[bold]{conv.conversation_id}[/] ({conv.channel}, {conv.speaker_mode}) — "
                  f"total {s.total:g}, {verdict}{flags}")
    for reason in s.reasons:
        console.print(f"  • {reason}")
    if scored.steps:
        table = Table(title="Script", show_header=True)
        for col in ("step", "category", "weight", "result", "evidence"):
            table.add_column(col, overflow="fold")
        for st in scored.steps:
            result = "n/a" if not st.applicable else ("✓" if st.passed else "✗")
            evidence = f"{st.start_s:.1f}s «{st.quote}»" if st.passed and st.quote else st.reason
            table.add_row(st.step, st.category, f"{st.weight:g}", result, evidence)
        console.print(table)
    if scored.findings:
        table = Table(title="Findings")
        for col in ("time", "rule", "category", "severity", "speaker", "quote"):
            table.add_column(col, overflow="fold")
        for f in scored.findings:
            table.add_row(f"{f.start_s:.1f}–{f.end_s:.1f}", f.rule_id, f.category, f.severity, f.speaker, f.quote)
        console.print(table)
    metrics = {k: v for k, v in scored.metrics.items() if v is not None}
    console.print("Metrics: " + ", ".join(f"{k}={v:g}" for k, v in metrics.items()))


def summary_markdown(summary: dict[str, Any]) -> str:
    """The Markdown summary left as a Prefect artifact by each run."""
    lines = [
        f"# Nightly QA run `{summary['run_id']}`",
        "",
        "| discovered | skipped (already stored) | processed | failed | flagged |",
        "|---:|---:|---:|---:|---:|",
        f"| {summary['discovered']} | {summary['skipped']} | {summary['processed']} | {summary['failed']} "
        f"| {summary['flagged']} |",
        "",
        f"Rule set version `{summary['ruleset_version']}`, model `{summary.get('model')}`.",
        "",
    ]
    if summary.get("top_rules"):
        lines += ["## Top rules hit", "", "| rule | hits |", "|---|---:|"]
        lines += [f"| {rule} | {n} |" for rule, n in summary["top_rules"]]
        lines.append("")
    if summary.get("flagged_ids"):
        lines += ["## Flagged", ""] + [f"- `{cid}`: {why}" for cid, why in summary["flagged_ids"]] + [""]
    if summary.get("failures"):
        lines += ["## Failed inputs", ""] + [f"- {err}" for err in summary["failures"]] + [""]
    for key, title in (("warnings", "Warnings (stored, with a note)"), ("waiting", "Left for the next run"),
                       ("skipped_paths", "Skipped paths"), ("moved", "Moved files (stored path updated)"),
                       ("interrupted_runs", "Earlier runs marked interrupted")):
        if summary.get(key):
            lines += [f"## {title}", ""] + [f"- {line}" for line in summary[key]] + [""]
    if summary.get("sources"):
        lines += ["## PBX sources", ""] + [f"- {s['summary']}" for s in summary["sources"]] + [""]
    return "\n".join(lines)


def print_rescore_changes(changes: dict[str, Any], rows: int = 15) -> None:
    """A rescore's before/after summary: findings per rule that changed, conversations whose flag changed, and
    the shift of the scores."""
    if not changes.get("baseline"):
        console.print("No before/after comparison: this rescore started before baselines were kept.")
        return
    moved = [r for r in changes["rules"] if r["after"] != r["before"]]
    if moved:
        table = Table(title=f"Findings per rule that changed ({len(moved)} of {len(changes['rules'])} rules)")
        for column in ("rule", "before", "after", "change"):
            table.add_column(column, justify="left" if column == "rule" else "right")
        for r in moved[:rows]:
            table.add_row(r["rule_id"], str(r["before"]), str(r["after"]), f"{r['after'] - r['before']:+d}")
        if len(moved) > rows:
            table.add_row(f"… {len(moved) - rows} more", "", "", "")
        console.print(table)
    else:
        console.print(f"Findings per rule: unchanged ({len(changes['rules'])} rules).")

    def ids(key: str, n: int) -> str:
        shown = changes[key]
        return f" ({', '.join(shown)}{', …' if n > len(shown) else ''})" if shown else ""

    console.print(f"Flag changed in {changes['newly_flagged'] + changes['no_longer_flagged']} of "
                  f"{changes['conversations']} conversations: {changes['newly_flagged']} newly flagged"
                  f"{ids('newly_flagged_ids', changes['newly_flagged'])}, {changes['no_longer_flagged']} no longer "
                  f"flagged{ids('no_longer_flagged_ids', changes['no_longer_flagged'])}.", highlight=False)
    score = changes["score"]
    console.print(f"Score: average {score['mean_before']:g} → {score['mean_after']:g} ({score['mean_shift']:+g}); "
                  f"{score['up']} up, {score['down']} down, shifts from {score['min_shift']:+g} to "
                  f"{score['max_shift']:+g}.", highlight=False)


@contextmanager
def progress_bar(description: str, subscribe: Callable[[Callable[[int, int], None]], Callable[[], None]]):
    """A rich progress bar fed by ``subscribe(callback)`` (which returns an unsubscribe function)."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=False) as bar:
        task_id = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task_id, completed=done, total=total)

        unsubscribe = subscribe(update)
        try:
            yield bar
        finally:
            unsubscribe()
