"""What every command prints the same way: errors (exit 2 by default), rows as a table, CSV or JSON, warnings
about filter values that match nothing, and audit lines for what a command did outside the page."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from qa.store import Store


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr; the exit to raise."""
    from qa.review.report import err_console, plain

    err_console.print(f"[red]error:[/] {plain(message)}", highlight=False)
    return typer.Exit(code)


def print_rows(columns: list[str], rows: list, fmt: str, title: str | None = None) -> None:
    """Rows on stdout as ``fmt`` (table, csv or json)."""
    from qa.review import report

    if fmt not in ("table", "csv", "json"):
        raise typer.BadParameter("--format: table, csv or json")
    text = report.render_rows(columns, rows, fmt, title=title)
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def warn_typos(store: Store, filters: Any, skip: tuple[str, ...] = ()) -> bool:
    """Warn about filter values that match nothing stored, naming the nearest known one; whether any did."""
    from qa.review import report
    from qa.store import queries

    if not store.exists():
        return False
    warnings = queries.unknown_filter_values(store, filters, skip)
    for warning in warnings:
        report.err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    return bool(warnings)


def audit(store: Store, username: str | None, action: str, conversation_id: str | None, detail: str) -> None:
    """An audit line for a command (exports and verdicts given outside the page); the OS user when no name."""
    import getpass

    from qa.review import auth, report
    from qa.store import StoreError

    try:
        auth.audit(store, username or f"{getpass.getuser()} (shell)", action, conversation_id, detail, "cli")
    except StoreError as exc:
        report.err_console.print(f"[yellow]warning:[/] not written to the audit table: {exc}", highlight=False)
