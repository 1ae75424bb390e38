"""Benchmarks on either store kind: ``--store duckdb`` (a file) or ``--store ducklake`` (a throwaway PostgreSQL
catalog from ``tools/pg_throwaway.py`` and a data folder in the work folder).

    with bench_store("ducklake", work) as open_as:
        db = open_as(grown_file)      # the file itself, or a new lake holding a copy of it
        fresh = open_as.empty()       # a new empty store of the same kind

A benchmark grows its database as a DuckDB file (fast bulk SQL), then times the reads on the setting
``open_as`` returns; for a lake the file's tables are copied into it first (``store.copy_into_lake``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from qa.store import open_store  # noqa: E402
from qa.store.lake_store import close_lakes, copy_into_lake  # noqa: E402
from tools.pg_throwaway import ThrowawayPostgres  # noqa: E402

STORE_KINDS = ("duckdb", "ducklake")


class StoreKind:
    """Turns a grown DuckDB file into the ``--db`` setting of the kind benchmarked; makes empty ones of that kind."""

    def __init__(self, kind: str, work: Path, pg: ThrowawayPostgres | None = None) -> None:
        self.kind, self.work, self.pg = kind, work, pg
        self._made = 0

    def __call__(self, file_db: Path) -> str:
        if self.pg is None:
            return str(file_db)
        db = f"ducklake:postgres:{self.pg.conninfo}?data={self.work / 'lake'}"
        copied = copy_into_lake(open_store(file_db), open_store(db))
        print(f"copied into DuckLake: {', '.join(f'{t} {n}' for t, n in sorted(copied.items()))}", flush=True)
        return db

    def empty(self) -> str:
        """A new, empty store of this kind (a file beside the work folder's, or a lake in a database of its own)."""
        self._made += 1
        if self.pg is None:
            return str(self.work / f"empty-{self._made}.duckdb")
        conninfo = self.pg.create_database(f"empty{self._made}")
        return f"ducklake:postgres:{conninfo}?data={self.work / f'lake-empty-{self._made}'}"


@contextmanager
def bench_store(kind: str, work: Path) -> Iterator[StoreKind]:
    """A :class:`StoreKind` for ``kind``: from a grown DuckDB file to the ``--db`` setting to benchmark, and new
    empty stores of the kind; a lake's PostgreSQL is stopped at the end."""
    if kind == "duckdb":
        yield StoreKind(kind, work)
        return
    if kind != "ducklake":
        raise ValueError(f"--store: one of {', '.join(STORE_KINDS)}, not {kind!r}")
    with ThrowawayPostgres() as pg:
        try:
            yield StoreKind(kind, work, pg)
        finally:
            close_lakes()
