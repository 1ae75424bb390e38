"""The ``qa`` Typer application and its start-up: environment defaults, ``qa.toml``, and the defaults it gives
every command (the commands themselves are registered by :mod:`qa.cli`)."""

from __future__ import annotations

import os

import typer

from qa.cli.output import fail
from qa.run.environment import apply_defaults

app = typer.Typer(
    name="qa",
    help="Offline speech and chat QA for Russian contact centers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(ctx: typer.Context) -> None:
    """Offline speech and chat QA for Russian contact centers."""
    from qa.config import ConfigError, cli_defaults, configured_timezone, load_config

    # a served schedule keeps Prefect's INFO logs: they are the flow-run logs the UI shows
    apply_defaults(quiet_prefect=ctx.invoked_subcommand != "schedule")
    try:
        config = load_config()
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    if config.timezone:
        os.environ.setdefault("QA_TIMEZONE", config.timezone)
    if config.lake_data:
        os.environ.setdefault("QA_LAKE_DATA", str(config.lake_data))
    try:
        configured_timezone()  # a bad QA_TIMEZONE fails here, not inside a query
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    # qa.toml fills in what neither a flag nor its environment variable gave (click's default_map).
    defaults = cli_defaults(config)
    ctx.default_map = {name: defaults for name in ctx.command.commands}  # type: ignore[attr-defined]
