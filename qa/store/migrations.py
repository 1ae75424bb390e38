"""The numbered migrations (``qa/store/migrations/NNN_name.sql``): listed, applied in order, each in one transaction
and recorded in ``schema_migrations``. A DuckLake applies the same files translated (:mod:`qa.store.lake_store`).

A migration whose derived tables are too large to fill in one SQL statement names a backfill here
(:func:`backfill_of`), run right after its file in the same transaction.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources

import duckdb


def backfill_of(number: int) -> Callable[[duckdb.DuckDBPyConnection], None] | None:
    """The backfill that follows migration ``number`` (in its transaction), if any: 008 indexes every stored
    conversation for search, in batches."""
    if number == 8:
        from qa.store.search_index import refresh_search

        return refresh_search
    return None


_LAKE_ONLY = re.compile(r"^--\s*ducklake:\s*only\b", re.I | re.M)


def lake_only(sql: str) -> bool:
    """Whether a migration has meaning only on a DuckLake (a ``-- ducklake: only`` line: a lake's table layout):
    a DuckDB file records it as applied and runs nothing."""
    return bool(_LAKE_ONLY.search(sql))


def migration_files() -> list[tuple[int, str, str]]:
    """``(number, file name, SQL)`` of every shipped migration, in order."""
    folder = resources.files("qa.store") / "migrations"
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            out.append((number, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(out)


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the numbered migrations not yet recorded in ``schema_migrations``; returns their names."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMPTZ NOT NULL)"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for number, name, sql in migration_files():
        if number in done:
            continue
        con.execute("BEGIN")
        try:
            if not lake_only(sql):
                con.execute(sql)
            backfill = backfill_of(number)
            if backfill is not None:
                backfill(con)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [number, name, datetime.now(UTC)])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def pending_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The names of the migrations this database has not had yet (all of them for an empty one).

    Every read of a file asks this once per connection, so it reads ``schema_migrations`` alone (a tiny table) and
    takes its absence from the error, not from ``information_schema``, which lists every table and view first.
    """
    try:
        done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    except duckdb.CatalogException:
        return [name for _, name, _ in migration_files()]
    return [name for number, name, _ in _files() if number not in done]


@functools.lru_cache(maxsize=1)
def _files() -> tuple[tuple[int, str, str], ...]:
    """The shipped migrations, read once per process (they are package data: they never change while it runs)."""
    return tuple(migration_files())
