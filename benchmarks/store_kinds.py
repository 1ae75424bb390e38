"""Benchmarks on either store kind: ``--store duckdb`` (a file) or ``--store ducklake`` (a throwaway PostgreSQL
catalog from ``tools/pg_throwaway.py`` and a data folder in the work folder).

    with bench_store("ducklake", work) as open_as:
        db = open_as(grown_file)      # the file itself, or a new lake holding a copy of it

A benchmark grows its database as a DuckDB file (fast bulk SQL), then times the reads on the setting
``open_as`` returns; for a lake the file's tables are copied into it first (``store.copy_into_lake``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from qa.store import open_store  # noqa: E402
from qa.store.lake_store import close_lakes, copy_into_lake  # noqa: E402
from tools.pg_throwaway import ThrowawayPostgres  # noqa: E402

STORE_KINDS = ("duckdb", "ducklake")


@contextmanager
def bench_store(kind: str, work: Path) -> Iterator[Callable[[Path], str]]:
    """A function from a grown DuckDB file to the ``--db`` setting to benchmark; PostgreSQL stopped at the end."""
    if kind == "duckdb":
        yield str
        return
    if kind != "ducklake":
        raise ValueError(f"--store: one of {', '.join(STORE_KINDS)}, not {kind!r}")
    with ThrowawayPostgres() as pg:

        def open_as(file_db: Path) -> str:
            db = f"ducklake:postgres:{pg.conninfo}?data={work / 'lake'}"
            copied = copy_into_lake(open_store(file_db), open_store(db))
            print(f"copied into DuckLake: {', '.join(f'{t} {n}' for t, n in sorted(copied.items()))}", flush=True)
            return db

        try:
            yield open_as
        finally:
            close_lakes()
