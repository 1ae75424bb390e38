"""The nightly QA flow: inbox → transcribe → lemmatise → score → DuckDB. Wiring only; logic lives in ``qa``.

Run once:        qa run data/inbox            (ephemeral Prefect, no server needed)
On a schedule:   qa schedule data/inbox       (serves the `nightly` deployment, cron 02:00 Europe/Moscow)
On Dask:         qa run data/inbox --workers 4  or  --dask-address tcp://host:8786  (see ``nightly_flow``)
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect import flow, get_run_logger, serve, task
from prefect.artifacts import create_markdown_artifact
from prefect.deployments.runner import RunnerDeployment
from prefect.runtime import flow_run
from prefect.schedules import Cron
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import opaque

from qa.inbox.discovery import settle_seconds
from qa.inbox.inputs import InboxItem
from qa.records import Failure, ScoredConversation
from qa.review import report
from qa.rules.ruleset import load_ruleset
from qa.run import bookkeeping, pipeline
from qa.run.cluster import (
    ClusterSettings,
    dask_threads,
    embedded_threads,
    lost_error,
    runner_in_use,
    runner_is_dask,
    scheduler_lost,
    task_runner,
)
from qa.store import RunCounts, RunInfo, Store, open_store

NIGHTLY_CRON = "0 2 * * *"
NIGHTLY_TIMEZONE = "Europe/Moscow"


@task(name="discover")
def discover(inbox: str | None, sources: list[dict[str, Any]], store: Store, settle_s: float
             ) -> bookkeeping.Discovery:
    """New items of the inbox and the PBX sources, those already stored (or failed as bad files) with the same
    content hash, files that cannot be read, every path skipped or left for the next run, each source's report."""
    return bookkeeping.discover(inbox, store, settle_s, sources)


@task(name="process-chunk", retries=2, retry_delay_seconds=5, retry_condition_fn=pipeline.worth_retrying)
def process_chunk(items: list[InboxItem], settings: pipeline.PipelineSettings) -> list[ScoredConversation | Failure]:
    """Read chats/transcripts and transcribe calls of one chunk, then lemmatise and score it (retried on unexpected
    errors, not on a broken model). One task, not two: a second task would wait on the first in a thread of its own
    and double the per-chunk bookkeeping on Dask."""
    return pipeline.process_chunk(items, settings)


@task(name="record-run")
def record_run(store: Store, run: RunInfo) -> list[str]:
    """Record the run as running, after marking runs whose process is gone as interrupted (their ids)."""
    dead = bookkeeping.mark_interrupted_runs(store)
    store.start_run(run)
    return dead


@task(name="write-results")
def write_results(store: Store, run_id: str, results: list[ScoredConversation | Failure]
                  ) -> list[ScoredConversation | Failure]:
    """The single writer: one short bulk transaction per chunk. Returns the results as stored (a second
    conversation with the same id in the chunk became a failure)."""
    scored = [r for r in results if isinstance(r, ScoredConversation)]
    duplicates = store.write_results(run_id, scored, [r for r in results if isinstance(r, Failure)])
    if not duplicates:
        return results
    dropped = {d.source_path for d in duplicates}
    return [r for r in results if isinstance(r, Failure) or r.conversation.source_path not in dropped] + duplicates


@task(name="finish-run")
def finish_run(store: Store, run_id: str, counts: RunCounts, status: str) -> None:
    """Record the run's end and counts."""
    store.finish_run(run_id, counts, status)


@flow(name="nightly-qa", task_runner=ThreadPoolTaskRunner(max_workers=embedded_threads()))
def nightly_qa(
    inbox: str | None = "data/inbox",
    db: str = "data/qa.duckdb",
    rules: str = "scripts_rules",
    chunk_size: int | None = None,
    model: str | None = None,
    device: str | None = None,
    channels: dict[str, str] | None = None,
    cache_dir: str | None = "data/cache/transcripts",
    text_chunk_size: int | None = None,
    sources: list[dict[str, Any]] | None = None,
    transcriptions: int | None = None,
    settle_s: float | None = None,
) -> dict[str, Any]:
    """Score every new conversation in ``inbox`` and the PBX ``sources`` into the store ``db`` (a DuckDB file or a
    ``ducklake:`` setting: plain text, as a deployment's parameters are; opened once here); returns the run
    summary.

    ``chunk_size``: calls per task (4; on Dask fewer when a small night would leave a worker thread without a
    chunk), and chats/transcripts per task too unless ``text_chunk_size`` (100, on Dask 250). ``transcriptions``:
    calls transcribed at once by the embedded runner (default: as many as pay off here,
    ``qa.speech.transcribe.concurrency``); a Dask worker transcribes one per thread.
    ``sources``: qa.toml's ``[[sources]]`` as data (:meth:`qa.config.SourceSettings.as_dict`).
    ``settle_s``: files changed this recently wait for the next run (default ``QA_SETTLE_S``, else 10 s)."""
    logger = get_run_logger()
    ruleset = load_ruleset(rules)
    settings = pipeline.PipelineSettings(
        rules_dir=rules, transcription={"model": model, "device": device}, channels=channels, cache_dir=cache_dir
    )
    runner = runner_in_use()
    distributed = runner_is_dask()
    concurrency: dict[str, Any] = {"transcriptions": "one per Dask worker thread"}
    if not distributed:
        settings, concurrency = pipeline.with_concurrency(settings, transcriptions)
    options = pipeline.transcription_options(settings)
    calls_per, texts_per = pipeline.chunk_sizes(chunk_size, text_chunk_size, distributed)
    run_id = str(flow_run.get_id() or uuid.uuid4())
    store = open_store(db)
    found = discover(inbox, sources or [], store, settle_seconds(settle_s))
    new, skipped, source_reports = found.new, found.stored, found.sources
    calls = sum(item.kind == "call" for item in new)
    if distributed and not chunk_size:  # every worker thread gets a chunk of a small night
        calls_per = pipeline.calls_per_chunk(calls_per, calls, dask_threads())
    if calls:
        pipeline.check_model(settings)  # a wrong model fails the run here, not every call in it
    where = inbox or ", ".join(f"source {s['name']}" for s in sources or [])
    interrupted = record_run(store, RunInfo(
        run_id=run_id, inbox=where, ruleset_version=ruleset.version, rules_dir=rules, model=options.model,
        settings={"chunk_size": calls_per, "text_chunk_size": texts_per, "runner": runner,
                  "sources": source_reports, **options.as_dict(), **concurrency}))
    logger.info("%d new conversations, %d already stored", len(new), len(skipped))
    for source in source_reports:
        (logger.warning if source["error"] or any(source["problems"].values()) else logger.info)(
            "%s", source["summary"])
    failures: list[Failure] = list(found.failures)
    batches = pipeline.longest_first(pipeline.plan_chunks(new, calls_per, texts_per))
    scored_futures = [process_chunk.submit(b, settings) for b in batches]
    claims = bookkeeping.IdClaims(store)
    scored: list[ScoredConversation] = []
    done, lost = 0, False
    pipeline.report_progress(0, len(new))
    with store.night_writes():  # writes cost the same on a big store as on an empty one
        if failures:  # files that cannot be read: each recorded, the rest goes on
            write_results(store, run_id, opaque(failures))
        for batch, future in zip(batches, scored_futures, strict=True):
            try:
                results = future.result()
            except Exception as exc:  # the chunk failed even after retries: record each of its inputs
                if scheduler_lost(exc):  # not the inputs' fault: said so in each of their failures
                    lost, exc = True, lost_error(exc)
                results = pipeline.chunk_failures(batch, exc)
            results = claims.refuse_duplicates(results)  # a store that cannot answer is the store's error
            results = write_results(store, run_id, opaque(results))  # opaque: Prefect does not walk every token
            scored += [r for r in results if isinstance(r, ScoredConversation)]
            failures += [r for r in results if isinstance(r, Failure)]
            done += len(batch)
            pipeline.report_progress(done, len(new))

    summary = pipeline.run_summary(run_id, ruleset.version, options.model,
                                   len(new) + len(skipped) + len(found.failures), len(skipped), scored, failures,
                                   source_reports)
    summary |= {"skipped_paths": found.notes, "waiting": found.waiting, "moved": found.moved,
                "interrupted_runs": interrupted}
    summary["scheduler_lost"] = runner_in_use() if lost else None
    status = "failed" if ((new or found.failures) and not scored) or lost else "completed"
    finish_run(store, run_id, RunCounts(summary["discovered"], summary["skipped"], summary["processed"],
                                           summary["failed"], summary["flagged"]), status)
    create_markdown_artifact(markdown=report.summary_markdown(summary), key="nightly-qa-summary",
                             description="Conversations processed, failed, flagged and top rules hit")
    return summary


def nightly_flow(cluster: ClusterSettings | None = None, transcriptions: int | None = None) -> Any:
    """The nightly flow on the task runner the cluster settings choose (the embedded thread pool without, one thread
    per call transcribed at once: ``transcriptions`` when given, else one per core).

    Chunks are transcribed and scored on the workers; the store is written here, by the flow process only.
    """
    runner = task_runner(cluster) if cluster else None
    if runner is None and transcriptions and transcriptions != embedded_threads():
        runner = ThreadPoolTaskRunner(max_workers=transcriptions)
    return nightly_qa if runner is None else nightly_qa.with_options(task_runner=runner)


def nightly_deployment(inbox: str | None, db: str, rules: str, cron: str = NIGHTLY_CRON,
                       cluster: ClusterSettings | None = None,
                       sources: list[dict[str, Any]] | None = None) -> RunnerDeployment:
    """The `nightly` deployment: the flow on a cron schedule in Europe/Moscow time (over the inbox and the PBX
    sources, kept in the deployment's parameters as data)."""
    return nightly_flow(cluster).to_deployment(
        name="nightly",
        schedule=Cron(cron, timezone=NIGHTLY_TIMEZONE),
        parameters={"inbox": inbox, "db": db, "rules": rules, "sources": sources or []},
        description="Nightly QA of the contact-center inbox",
    )


def serve_nightly(inbox: str | None, db: str, rules: str, cron: str = NIGHTLY_CRON,
                  cluster: ClusterSettings | None = None, sources: list[dict[str, Any]] | None = None) -> None:
    """Serve the `nightly` deployment to the Prefect server in PREFECT_API_URL until interrupted."""
    serve(nightly_deployment(inbox, db, rules, cron, cluster, sources))
