"""Rescore pages scored in worker processes beside the flow: the embedded runner's tasks are threads of one
process, and scoring is Python that holds the GIL, so two threads score no faster than one. While a
:func:`scoring_processes` block is open, :func:`score_page` hands each page (its stored rows: cheap to pickle) to a
pool of spawned processes, each with the scorer built once, and gets the rows to write back; the flow's thread
meanwhile reads the next page and writes the last one (DuckDB releases the GIL). Outside such a block (a Dask
worker, ``--processes 1``) a page is scored in the calling thread.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

from qa.run.rescoring import ScoredPage, joined, score_stored
from qa.store.rescore import StoredPage

_ACTIVE: dict[str, tuple[ProcessPoolExecutor, int]] = {}  # rules folder -> the open pool scoring with it, its size
POOL_MIN_PAGES = 4  # fewer pages than this to rescore: scored in the flow's threads, no processes started


def default_processes() -> int:
    """Scoring processes when none are asked for: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def chosen_processes(asked: int | None, runner: str, todo: int, page_size: int) -> int:
    """The scoring processes of a rescore: ``asked``, else one per core on the embedded runner when more than
    :data:`POOL_MIN_PAGES` pages of ``page_size`` are ``todo`` (worth their start, a second or two each), else 1 (a
    Dask ``runner``'s workers are processes already)."""
    if asked is not None:
        return asked
    return default_processes() if runner.startswith("embedded") and todo > POOL_MIN_PAGES * page_size else 1


def _warm(rules_dir: str) -> None:
    """A new scoring process watches the process that started it (and ends when that one is gone, however it ended:
    a killed ``qa rescore`` left its scoring processes running), then builds its scorer (lemmatiser, compiled rules)
    before its first page."""
    from qa.run.pipeline import get_scorer
    from qa.run.tied_server import watch_parent

    threading.Thread(target=watch_parent, args=(os.getppid(),), name="qa-watch-parent", daemon=True).start()
    get_scorer(rules_dir)


@contextmanager
def scoring_processes(processes: int, rules_dir: str) -> Iterator[None]:
    """Score pages with ``rules_dir`` in ``processes`` worker processes until the block ends (1 or fewer: in the
    caller's threads, no pool)."""
    if processes <= 1:
        yield
        return
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"), initializer=_warm,
                               initargs=(rules_dir,))
    _ACTIVE[rules_dir] = (pool, processes)
    try:
        yield
    finally:
        _ACTIVE.pop(rules_dir, None)
        pool.shutdown(wait=True, cancel_futures=True)


def score_page(page: StoredPage, rules_dir: str) -> ScoredPage:
    """Score a page: while a pool for ``rules_dir`` is open, cut into one slice per scoring process and scored by
    all of them at once (so a big page, and the last one, keeps every core busy), else here."""
    active = _ACTIVE.get(rules_dir)
    if active is None:
        return score_stored(page, rules_dir)
    pool, processes = active
    futures = [pool.submit(score_stored, part, rules_dir) for part in page.slices(processes)]
    return joined([future.result() for future in futures])
