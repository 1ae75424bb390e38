"""Scoring without a store, for rule authors: ``qa score`` (one conversation) and ``qa check-rules`` (a rule set
folder validated, every rule's tests run)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from qa.cli import options as opt
from qa.cli.output import fail


def score(
    file: Annotated[Path, typer.Argument(help="A call (audio), *.chat.json or *.transcript.json.")],
    rules: opt.RulesOpt = Path(opt.DEFAULT_RULES),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    model: opt.ModelOpt = None,
    device: opt.DeviceOpt = None,
    channels: opt.ChannelsOpt = None,
) -> None:
    """Score one conversation without a database."""
    from qa.errors import ModelError, QAInputError
    from qa.inbox.inputs import discover_file
    from qa.review import report
    from qa.run import pipeline
    from qa.serialize import scored_to_dict

    opt.check_device(device)
    settings = pipeline.PipelineSettings(rules_dir=str(rules), transcription={"model": model, "device": device},
                                         channels=opt.channels(channels))
    try:
        item = discover_file(file)
        [prepared] = pipeline.prepare_chunk([item], settings)
        if not hasattr(prepared, "utterances"):
            raise fail(prepared.error)
        scored = pipeline.get_scorer(rules).score(prepared)
    except (QAInputError, ModelError) as exc:
        raise fail(str(exc)) from exc
    if as_json:
        sys.stdout.write(json.dumps(scored_to_dict(scored), ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        report.print_scored(scored)


def check_rules(
    folder: Annotated[Path, typer.Argument(help="Rule set folder.")] = Path(opt.DEFAULT_RULES),
    run_tests: Annotated[bool, typer.Option("--tests/--no-tests", help="Also run each rule's test file.")] = True,
) -> None:
    """Validate a rule set folder and run every rule's tests."""
    from qa.errors import RuleFileError
    from qa.review import report
    from qa.rules.rule_tests import run_rule_tests
    from qa.rules.ruleset import check_ruleset_errors

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
        raise fail(str(exc)) from exc
    bad = [r for r in results if not r.ok]
    for r in results:
        mark = "[green]ok[/]  " if r.ok else "[red]FAIL[/]"
        report.console.print(f"{mark} {r.rule_id}: {r.hits} hit, {r.oks} ok", highlight=False)
        for failure in r.failures:
            report.console.print(f"      {failure}", highlight=False)
    report.console.print(f"{len(results) - len(bad)} passed, {len(bad)} failed")
    if bad:
        raise typer.Exit(1)
