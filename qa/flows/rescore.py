"""The rescore flow: stored conversations → score with a (changed) rule set → store, page by page. Wiring only.

Pages of stored conversations are read here (one read-only connection each), scored on the task runner (the
embedded thread pool, or Dask workers: ``rescore_flow``), and written here, one bulk transaction per page plus
its progress row, so an interrupted rescore of the same rule set version resumes after its last written page.
"""

from __future__ import annotations

import uuid
from collections import deque
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import opaque

from qa.rules.ruleset import ruleset_version
from qa.run import bookkeeping, pipeline, rescoring, score_pool
from qa.run.cluster import ClusterSettings, runner_in_use, scheduler_lost, task_runner
from qa.store import RunCounts, RunInfo, Store, open_store
from qa.store import rescore as rescore_store
from qa.text.analysis_version import analysis_version


@task(name="load-page", cache_policy=NO_CACHE)
def load_page(store: Store, after: str | None, size: int, reuse_tokens: bool) -> rescoring.Batch:
    """The next page of stored conversations as stored rows (with their stored tokens where still current)."""
    return rescoring.Batch(rescore_store.read_page(store, after, size, analysis_version() if reuse_tokens else None))


@task(name="rescore-page", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def rescore_page(batch: rescoring.Batch, rules: str) -> rescoring.ScoredPage:
    """Score one page (in a scoring process while the flow has them; analysing only what has no current tokens;
    a failing conversation becomes a Failure) and build the rows its write stores."""
    return score_pool.score_page(batch.page, rules)


@task(name="write-page", cache_policy=NO_CACHE)
def write_page(store: Store, run_id: str, version: str, page: rescoring.Page,
               scored: rescoring.ScoredPage) -> rescore_store.ChunkProgress:
    """The single writer: the page's scores, its progress and fresh tokens in one bulk transaction."""
    progress = rescoring.chunk_progress(run_id, version, page, scored)
    rescore_store.record_chunk(store, progress, scored.failures, rows=scored.rows)
    return progress


@flow(name="rescore-qa", task_runner=ThreadPoolTaskRunner(max_workers=max(2, score_pool.default_processes())))
def rescore_qa(
    db: str = "data/qa.duckdb",
    rules: str = "scripts_rules",
    chunk_size: int = rescoring.DEFAULT_CHUNK_SIZE,
    resume: bool = True,
    reuse_tokens: bool = True,
    in_flight: int = rescoring.DEFAULT_IN_FLIGHT,
    forced: list[str] | None = None,
    processes: int | None = None,
) -> dict[str, Any]:
    """Rescore every stored conversation of the store ``db`` (opened once here) with the rule set ``rules``;
    returns the run summary with what changed (``changes``: findings per rule, flags, score shift).

    ``forced``: the rule tests that failed and were overridden (``qa rescore --force``), kept with the run.
    ``processes``: scoring processes beside the flow (default: :func:`~qa.run.score_pool.chosen_processes`); 1
    scores in the flow's threads. Kept with the run's settings."""
    logger = get_run_logger()
    store = open_store(db)
    rules = str(Path(rules).resolve())
    version = ruleset_version(Path(rules))
    pipeline.get_scorer(rules)  # a broken rule set fails here, before anything is recorded
    interrupted = bookkeeping.mark_interrupted_runs(store)
    point = rescore_store.resume_point(store, version, rules) if resume else None
    run_id = point.run_id if point else f"rescore-{uuid.uuid4()}"
    after = point.last_conversation_id if point else None
    todo = rescore_store.count_after(store, after)
    processes = score_pool.chosen_processes(processes, runner_in_use(), todo, chunk_size)
    if point is None:
        store.start_run(RunInfo(run_id=run_id, kind="rescore", ruleset_version=version, rules_dir=rules,
                                settings={"chunk_size": chunk_size, "reuse_tokens": reuse_tokens,
                                          "processes": processes,
                                          "runner": runner_in_use(), **({"forced": forced} if forced else {})}))
        rescore_store.keep_baseline(store, run_id)
    else:
        logger.info("resuming rescore %s after %s", run_id, point.last_conversation_id)
        rescore_store.mark_resumed(store, run_id)
    totals = rescoring.RescoreTotals.resumed(point)
    total = totals.conversations + totals.failed + todo
    in_flight = max(in_flight, processes + 2)  # a page being read and one being written beside those scored
    pipeline.report_progress(totals.conversations + totals.failed, total)
    pending: deque[tuple[rescoring.Page, Any]] = deque()
    exhausted, lost = False, False
    # one writer connection held across pages (a DuckDB file: given up every few seconds for readers), pages scored
    # in processes while this thread reads the next and writes the last
    with store.hold(), score_pool.scoring_processes(processes, rules):
        while True:
            while not exhausted and len(pending) < max(1, in_flight):
                batch = load_page(store, after, chunk_size, reuse_tokens)
                if not len(batch.page):
                    exhausted = True
                    break
                page = rescoring.page_of(batch.page)
                after = page.last_conversation_id
                pending.append((page, rescore_page.submit(batch, rules)))
                del batch  # the task holds the page now; the flow keeps only its ids
            if not pending:
                break
            page, future = pending.popleft()
            try:
                scored = future.result()
            except Exception as exc:  # the page failed even after retries: record each of its conversations
                if scheduler_lost(exc):  # not the page's fault: stop here, so a resume scores it and what follows
                    lost = True
                    break
                scored = rescoring.failed_page(page, exc)
            totals.add(write_page(store, run_id, version, page, opaque(scored)))
            pipeline.report_progress(totals.conversations + totals.failed, total)
    status = "failed" if totals.failed and not totals.conversations else "completed"
    if lost:
        status = rescore_store.INTERRUPTED
        logger.error("lost the Dask scheduler (%s); rescore %s stopped after %s", runner_in_use(), run_id,
                     totals.last_conversation_id or "no page")
    changes = None
    if not lost:  # an interrupted rescore keeps its baseline for the resume
        changes = rescore_store.rescore_summary(store, run_id)
        rescore_store.finish_summary(store, run_id, changes)
    store.finish_run(run_id, RunCounts(totals.conversations + totals.failed, 0, totals.conversations,
                                       totals.failed, totals.flagged), status)
    return {"run_id": run_id, "ruleset_version": version, "resumed_after": point.last_conversation_id if point
            else None, "processed": totals.conversations, "failed": totals.failed, "flagged": totals.flagged,
            "reanalysed": totals.reanalysed, "reused": totals.conversations - totals.reanalysed,
            "scheduler_lost": runner_in_use() if lost else None, "written_through": totals.last_conversation_id,
            "changes": changes, "interrupted_runs": interrupted}


def rescore_flow(cluster: ClusterSettings | None = None) -> Any:
    """The rescore flow on the task runner the cluster settings choose (the embedded thread pool without)."""
    runner = task_runner(cluster) if cluster else None
    return rescore_qa if runner is None else rescore_qa.with_options(task_runner=runner)
