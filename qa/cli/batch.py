"""The nightly batch, for QA supervisors: ``qa run`` (the flow over an inbox), ``qa rescore`` (stored conversations
with a changed rule set) and ``qa schedule`` (the flow served on a cron schedule)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qa.cli import options as opt
from qa.cli.output import fail


def run(
    inbox: Annotated[Path | None, typer.Argument(
        help="Folder of calls, chats and transcripts (default: qa.toml's inbox). The sources of qa.toml (PBX "
             "recording folders) are read too.")] = None,
    db: opt.DbOpt = Path(opt.DEFAULT_DB),
    rules: opt.RulesOpt = Path(opt.DEFAULT_RULES),
    model: opt.ModelOpt = None,
    device: opt.DeviceOpt = None,
    channels: opt.ChannelsOpt = None,
    chunk_size: Annotated[int | None, typer.Option(
        help="Conversations per Prefect task: calls (default 4), and chats/transcripts too unless "
             "--text-chunk-size.", min=1)] = None,
    text_chunk_size: Annotated[int | None, typer.Option(
        help="Chats and transcripts per Prefect task (default: --chunk-size if given, else 100).", min=1)] = None,
    cache_dir: Annotated[str, typer.Option(help="Transcript cache folder ('' to disable).", envvar="QA_CACHE_DIR")]
    = opt.DEFAULT_CACHE,
    settle: Annotated[float | None, typer.Option(
        "--settle", help="Seconds a file must have stayed unchanged to be taken (one changed more recently may still "
                         "be being copied: it waits for the next run). Default 10.", envvar="QA_SETTLE_S",
        min=0)] = None,
    dask_address: opt.DaskAddressOpt = None,
    workers: opt.WorkersOpt = None,
    sources: opt.SourcesOpt = True,
    transcriptions: Annotated[int | None, typer.Option(
        help="Calls transcribed at once by this process (default: QA_TRANSCRIPTIONS, else one per core as memory "
             "allows; threads each: QA_CPU_THREADS, else the cores shared out). Not with --workers/--dask-address.",
        min=1)] = None,
) -> None:
    """Run the nightly flow over INBOX and the PBX sources of qa.toml, then print the flagged conversations."""
    from qa.errors import ModelError, RuleFileError
    from qa.review import report
    from qa.run import pipeline
    from qa.store import StoreError, queries

    chosen = opt.sources(sources)
    if inbox is None and not chosen:
        raise fail("give an INBOX folder, or set inbox or [[sources]] in qa.toml")
    if inbox is not None and not inbox.is_dir():
        raise fail(f"{inbox}: inbox folder not found")
    store = opt.open_db(db)
    try:
        store.check_not_damaged()  # before the flow starts, not after the Prefect server has
    except StoreError as exc:
        raise fail(str(exc)) from exc
    opt.check_model(model, device)
    cluster = opt.cluster(dask_address, workers)
    if transcriptions and (cluster.address or cluster.workers):
        raise fail("--transcriptions: the embedded runner's setting; Dask workers transcribe one call per thread")
    from qa.flows.nightly import nightly_flow

    nightly_qa = nightly_flow(cluster, transcriptions)
    if not (cluster.address or cluster.workers):  # the embedded runner: its tasks reuse what is built here
        from qa.run.startup import has_audio, warm_start

        try:
            warm, _ = pipeline.with_concurrency(pipeline.PipelineSettings(
                rules_dir=str(rules), transcription={"model": model, "device": device}), transcriptions)
        except ValueError as exc:  # QA_TRANSCRIPTIONS or QA_CPU_THREADS that is no number
            raise fail(str(exc)) from exc
        # a PBX source holds recordings: the model is worth loading for it as for an inbox with audio
        warm_start(warm, with_model=bool(chosen) or (inbox is not None and has_audio(inbox)))
    try:
        with report.progress_bar("Scoring conversations", pipeline.on_progress):
            summary = nightly_qa(
                inbox=str(inbox) if inbox else None, db=store.location, rules=str(rules), chunk_size=chunk_size,
                model=model, device=device, channels=opt.channels(channels), cache_dir=cache_dir.strip() or None,
                text_chunk_size=text_chunk_size, sources=[s.as_dict() for s in chosen], transcriptions=transcriptions,
                settle_s=settle,
            )
    except (RuleFileError, ModelError, StoreError) as exc:
        raise fail(str(exc)) from exc
    report.console.print(
        f"Run {summary['run_id']}: {summary['discovered']} found, {summary['skipped']} already stored, "
        f"{summary['processed']} scored, {summary['failed']} failed, {summary['flagged']} flagged."
    )
    _print_notes(summary)
    unread = opt.print_source_reports(summary.get("sources", []))
    from qa.run.cluster import scheduler_lost

    lost = [e for e in summary["failures"] if scheduler_lost(e)] if summary.get("scheduler_lost") else []
    for error in summary["failures"]:
        if error not in lost:
            report.err_console.print(f"[red]failed:[/] {error}", highlight=False)
    if lost:  # one line, not one per conversation: the inputs are fine, the cluster went away
        raise fail(f"{summary['scheduler_lost']}: lost the connection to the scheduler mid-run; {len(lost)} "
                   f"conversations not scored (recorded as failed, nothing half-written); re-run to score them",
                   code=2)
    columns, rows = queries.flagged(store)
    in_run = {cid for cid, _ in summary["flagged_ids"]}
    title = "Flagged in this run"
    if summary["processed"] == 0:
        in_run, title = {r[0] for r in rows}, "Flagged (nothing new in this run; all stored)"
    compact = report.compact_flagged(columns, [r for r in rows if r[0] in in_run])
    if compact[1]:
        report.render_rows(*compact, title=title)
    if (summary["processed"] == 0 and summary["failed"] > 0) or unread:
        raise typer.Exit(1)


def _print_notes(summary: dict) -> None:
    """What the run noticed besides failures, each line naming its file: warnings on stored conversations, paths
    skipped, files left for the next run, moved files, earlier runs marked interrupted."""
    from qa.review import report

    def say(lines: list[str], label: str) -> None:
        for line in lines:
            report.err_console.print(f"[yellow]{label}:[/] {line}", highlight=False)

    say(summary.get("warnings", []), "warning")
    say(summary.get("skipped_paths", []), "skipped")
    say(summary.get("waiting", []), "waiting")
    say(summary.get("moved", []), "moved")
    say([f"run {run_id} was left 'running' by a process that is gone: marked interrupted"
         for run_id in summary.get("interrupted_runs", [])], "note")


def rescore(
    db: opt.DbOpt = Path(opt.DEFAULT_DB),
    rules: opt.RulesOpt = Path(opt.DEFAULT_RULES),
    chunk_size: Annotated[int, typer.Option(help="Conversations per page (read, scored and written together; "
                                            "scored by all the scoring processes at once).", min=1)] = 2000,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Carry on an interrupted rescore of the "
                                         "same rule set version after its last written page (default), or "
                                         "start over.")] = True,
    reuse_tokens: Annotated[bool, typer.Option("--reuse-tokens/--no-reuse-tokens", help="Score from the stored "
                                               "tokens where the text analysis has not changed (default), or "
                                               "analyse every utterance again.")] = True,
    force: Annotated[bool, typer.Option("--force", help="Rescore even though some of the rule set's own tests "
                                        "fail (they are listed, and kept with the run).")] = False,
    processes: Annotated[int | None, typer.Option(help="Scoring processes beside the flow on the embedded runner "
                                                  "(default: one per core when the store has more than a few "
                                                  "pages; 1: score in the flow's threads).", min=1)] = None,
    dask_address: opt.DaskAddressOpt = None,
    workers: opt.WorkersOpt = None,
) -> None:
    """Recompute findings and scores from stored utterances with a (changed) rule set; keeps older versions.

    Refuses a rule set whose own tests fail (unless --force). Streams the store page by page (never all of it in
    memory) through the same task runner as `qa run`, then prints what changed."""
    from qa.errors import RuleFileError
    from qa.review import report
    from qa.run import pipeline, rescoring
    from qa.store import StoreError

    store = opt.existing_db(db)
    if not rules.is_dir():
        raise fail(f"{rules}: rule set folder not found")
    try:
        failing = rescoring.failing_rule_tests(rules, pipeline.get_scorer(rules))
    except RuleFileError as exc:
        raise fail(str(exc)) from exc
    for line in failing:
        report.err_console.print(f"[red]rule test failed:[/] {line}", highlight=False)
    if failing and not force:
        raise fail(f"{rules}: {len(failing)} rule test(s) fail (`qa check-rules {rules}` shows them all); fix the "
                   "rules or their tests, or rescore anyway with --force", code=2)
    cluster = opt.cluster(dask_address, workers)
    from qa.flows.rescore import rescore_flow
    from qa.run.cluster import tie_temporary_server

    tie_temporary_server()  # the temporary Prefect server the flow starts ends with this process

    try:
        with report.progress_bar("Rescoring conversations", pipeline.on_progress):
            summary = rescore_flow(cluster)(db=store.location, rules=str(rules), chunk_size=chunk_size,
                                            resume=resume, reuse_tokens=reuse_tokens, forced=failing or None,
                                            processes=processes)
    except (RuleFileError, StoreError) as exc:
        raise fail(str(exc)) from exc
    for run_id in summary.get("interrupted_runs", []):
        report.err_console.print(f"[yellow]note:[/] run {run_id} was left 'running' by a process that is gone: "
                                 "marked interrupted", highlight=False)
    if summary["resumed_after"]:
        report.console.print(f"Resumed rescore {summary['run_id']} after {summary['resumed_after']}.",
                             highlight=False)
    report.console.print(
        f"Rescored {summary['processed']} conversations with rule set {summary['ruleset_version']}: "
        f"{summary['flagged']} flagged, {summary['failed']} failed "
        f"({summary['reused']} from stored tokens, {summary['reanalysed']} analysed again).", highlight=False)
    if summary.get("changes"):
        report.print_rescore_changes(summary["changes"])
    if summary.get("scheduler_lost"):  # the pages not written are not failures: a resume scores them
        raise fail(f"{summary['scheduler_lost']}: lost the connection to the scheduler mid-rescore; rescore "
                   f"{summary['run_id']} stopped after {summary['written_through'] or 'no page'} (nothing "
                   f"half-written); run `qa rescore` again to carry on from there", code=2)
    if summary["failed"] and not summary["processed"]:
        raise typer.Exit(1)


def schedule(
    inbox: Annotated[Path | None, typer.Argument(
        help="Folder the nightly run reads (default: qa.toml's inbox), besides the sources of qa.toml.")] = None,
    db: opt.DbOpt = Path(opt.DEFAULT_DB),
    rules: opt.RulesOpt = Path(opt.DEFAULT_RULES),
    cron: Annotated[str, typer.Option(help="Cron schedule, Europe/Moscow time.")] = "0 2 * * *",
    dask_address: opt.DaskAddressOpt = None,
    workers: opt.WorkersOpt = None,
    sources: opt.SourcesOpt = True,
) -> None:
    """Serve the scheduled `nightly` deployment over INBOX and the PBX sources (needs a Prefect server: see README)."""
    from qa.flows.nightly import serve_nightly

    chosen = opt.sources(sources)
    if inbox is None and not chosen:
        raise fail("give an INBOX folder, or set inbox or [[sources]] in qa.toml")
    if inbox is not None and not inbox.is_dir():
        raise fail(f"{inbox}: inbox folder not found")
    if not rules.is_dir():
        raise fail(f"{rules}: rule set folder not found")
    store = opt.open_db(db)
    location = store.location if store.is_lake else str(Path(store.location).resolve())
    cluster = opt.cluster(dask_address, workers)
    serve_nightly(str(inbox.resolve()) if inbox else None, location, str(rules.resolve()), cron, cluster,
                  [s.as_dict() for s in chosen])
