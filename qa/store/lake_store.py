"""A store in a DuckLake, the store several machines write and read: a PostgreSQL catalog and Parquet files in a
shared folder (the setting and the plain logic are in :mod:`qa.store.lake`).

A DuckLake takes many writers on many machines: commits are optimistic, every write transaction takes the lake's
write token (so two concurrent writes always conflict and the loser is retried on a fresh snapshot), and each
conversation is deleted before it is inserted in the same transaction, so a retried or racing write never leaves two
copies. Readers read a snapshot and never wait. Each process keeps one in-memory DuckDB with the lake attached and
gives every task its own connection (a cursor) to it.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import duckdb

from qa.store import lake
from qa.store.base import LOCK_RETRY_S, Store, StoreError, StoreNotFound
from qa.store.days import define_day
from qa.store.file import FileStore
from qa.store.locked import lock
from qa.store.migrations import backfill_of, migration_files

T = TypeVar("T")
WRITE_TOKEN = "qa_write_token"  # the one row every write transaction updates


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LakeStore(Store):
    """A DuckLake: ``setting`` as given (``ducklake:postgres:…``) and ``where`` it lives (parsed once)."""

    setting: str
    where: lake.LakeLocation
    is_lake: ClassVar[bool] = True

    @property
    def location(self) -> str:
        return self.setting

    @property
    def display(self) -> str:
        return self.where.display

    @contextmanager
    def connect(self, read_only: bool = False, wait_s: float = LOCK_RETRY_S) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of this process's instance of the lake (created and migrated on first use). A ``read_only``
        connection reads one snapshot and anything it writes is rolled back."""
        location = self.where
        deadline = time.monotonic() + min(wait_s, lake.retry_seconds())

        def open_cursor() -> duckdb.DuckDBPyConnection:
            try:
                base = _lake_base(location, read_only, deadline)
            except duckdb.Error as exc:
                raise _lake_error(location, exc) from exc
            con = base.cursor()
            try:
                if read_only:
                    # one snapshot for every statement; nothing written survives. Begun first: every statement out
                    # of a transaction is one of its own, which reads the catalog's latest snapshot from PostgreSQL
                    # (the three below cost a read 3-4 round trips, 35 -> 114 ms under load)
                    con.execute("BEGIN")
                con.execute(f"USE {lake.CATALOG_ALIAS}")
                # temp objects (per-connection macros, registered Arrow tables) resolve as they do on a file
                con.execute(f"SET search_path = '{lake.CATALOG_ALIAS}.main,temp.main'")
                define_day(con)  # the lake keeps no macro: qa_day is this connection's, in the configured time zone
            except BaseException:
                _end_cursor(location, con)
                raise
            return con

        # nothing is done yet when the catalog goes away here: opening is tried again as a whole, like a write
        con = _lake_retry(location, deadline, open_cursor)
        try:
            yield con
        except duckdb.Error as exc:
            if lake.is_unreachable(exc) or lake.is_disk_full(exc):
                raise _lake_error(location, exc) from exc
            raise
        finally:
            _end_cursor(location, con)

    def write_transaction(self, body: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``body(con)`` with the write token taken, and again from a fresh snapshot (after a back-off, for up
        to ``QA_LAKE_RETRY_S``) when the commit loses a race with another writer or the catalog is unreachable."""
        deadline = time.monotonic() + lake.retry_seconds()

        def attempt() -> T:
            with self.connect() as con:
                return _lake_transaction(con, lambda: body(con))

        return _lake_retry(self.where, deadline, attempt)

    def run_queries(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[tuple[list[str], list]]:
        """The queries on one snapshot, tried again while the catalog is briefly unreachable."""

        def read() -> list[tuple[list[str], list]]:
            out = []
            with self.connect(read_only=True) as con:
                for sql, params in statements:
                    cur = con.execute(sql, list(params))
                    out.append(([d[0] for d in cur.description] if cur.description else [], cur.fetchall()))
            return out

        return _lake_retry(self.where, time.monotonic() + min(LOCK_RETRY_S, lake.retry_seconds()), read)

    @contextmanager
    def locked_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB of its own with the lake attached read-only and locked (:func:`qa.store.locked.lock`): its
        settings are per instance, so the process's shared instance is not used. The lake's data folder (from its
        catalog) stays readable; nothing else."""
        with self.connect(read_only=True):
            pass  # created? migrated? reachable? as for any read
        location = self.where
        con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                                 "autoload_known_extensions": False})
        try:
            try:
                for path in lake.extension_files():
                    con.execute(f"LOAD {lake.sql_literal(str(path))}")
                con.execute(location.attach_sql(read_only=True))
                [(data,)] = con.execute(f"SELECT value FROM __ducklake_metadata_{lake.CATALOG_ALIAS}.ducklake_metadata"
                                        " WHERE key = 'data_path'").fetchall()
                con.execute(f"USE {lake.CATALOG_ALIAS}")
                con.execute(f"SET search_path = '{lake.CATALOG_ALIAS}.main,temp.main'")
                define_day(con)
                lock(con, (str(data),))
            except duckdb.Error as exc:
                raise _lake_error(location, exc) from exc
            except lake.LakeSettingError as exc:
                raise StoreError(str(exc)) from exc
            con.execute("BEGIN")  # one snapshot
            yield con
        finally:
            con.close()

    def exists(self) -> bool:
        """Whether the lake has the QA tables."""
        try:
            with self.connect(read_only=True):
                return True
        except StoreNotFound:
            return False

    def check_not_damaged(self) -> None:
        """Nothing to check before connecting: the catalog says what is wrong when it is reached."""


def open_lake(setting: str) -> LakeStore:
    """The lake a ``ducklake:postgres:<conninfo>[?data=<folder>]`` setting names (a bad setting is a
    :class:`StoreError` naming it)."""
    try:
        return LakeStore(setting, lake.parse_location(setting))
    except lake.LakeSettingError as exc:
        raise StoreError(str(exc)) from exc


def _lake_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_catalog = ?",
                                      [lake.CATALOG_ALIAS]).fetchall()}


def _take_write_token(con: duckdb.DuckDBPyConnection) -> None:
    """Update the lake's one token row: any two write transactions that overlap now conflict at commit."""
    con.execute(f"UPDATE {WRITE_TOKEN} SET holder = ?, taken_at = ?", [f"{socket.gethostname()}:{os.getpid()}",
                                                                      _now()])


def _lake_transaction(con: duckdb.DuckDBPyConnection, body: Callable[[], T], token: bool = True) -> T:
    con.execute("BEGIN")
    try:
        if token:
            _take_write_token(con)
        result = body()
        con.execute("COMMIT")
        return result
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # a failed COMMIT has already rolled back
        raise


def migrate_lake(con: duckdb.DuckDBPyConnection, retry: Callable[[Callable[[], Any]], Any]) -> list[str]:
    """:func:`migrate` for a DuckLake: each migration translated (:func:`qa.store.lake.translate_migration`: no keys,
    checks or indexes) and applied in one transaction that takes the write token; a migration another process
    applied meanwhile is skipped. ``retry`` re-runs a step that lost a commit race."""

    def bookkeeping() -> None:
        con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL, name VARCHAR NOT NULL, "
                    "applied_at TIMESTAMPTZ NOT NULL)")
        con.execute(f"CREATE TABLE IF NOT EXISTS {WRITE_TOKEN} (holder VARCHAR, taken_at TIMESTAMPTZ)")
        con.execute(f"INSERT INTO {WRITE_TOKEN} SELECT NULL, NULL WHERE NOT EXISTS (SELECT 1 FROM {WRITE_TOKEN})")

    if not {"schema_migrations", WRITE_TOKEN} <= _lake_tables(con):
        retry(lambda: _lake_transaction(con, bookkeeping, token=False))
    applied: list[str] = []
    for number, name, sql in migration_files():

        def apply(number: int = number, name: str = name, sql: str = sql) -> None:
            if con.execute("SELECT 1 FROM schema_migrations WHERE version = ?", [number]).fetchone():
                return
            for statement in lake.translate_migration(sql):
                con.execute(statement)
            backfill = backfill_of(number)
            if backfill is not None:
                backfill(con)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [number, name, _now()])
            applied.append(name)

        if con.execute("SELECT 1 FROM schema_migrations WHERE version = ?", [number]).fetchone():
            continue
        retry(lambda apply=apply: _lake_transaction(con, apply))
    return applied


# One in-memory DuckDB per process and lake, with the lake attached and migrated; tasks get cursors of it.
_LAKES: dict[tuple[int, str], duckdb.DuckDBPyConnection] = {}
_LAKES_MIGRATED: set[tuple[int, str]] = set()
_LAKES_GUARD = threading.RLock()  # re-entered when a retry inside _lake_base forgets the instance


def _lake_error(location: lake.LakeLocation, exc: BaseException) -> StoreError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if lake.is_cut_off(exc) and (reason := catalog_refusal(location)):
        return StoreError(f"{location.display}: DuckLake catalog (PostgreSQL) unreachable: {reason}")
    if lake.is_unreachable(exc):
        first = lake.catalog_reason(str(exc))
        return StoreError(f"{location.display}: DuckLake catalog (PostgreSQL) unreachable: {first}")
    if lake.is_disk_full(exc):
        return StoreError(f"{location.display}: DuckLake data folder {location.data_path or '(as recorded)'} "
                          f"is full: {first}")
    return StoreError(f"{location.display}: {first}")


def catalog_refusal(location: lake.LakeLocation) -> str | None:
    """Why a fresh PostgreSQL login to the lake's catalog fails now (``None``: the server takes it).

    A real libpq start-up, not a TCP connect: a server that is shutting down still accepts TCP and only refuses
    the login («the database system is shutting down»).
    """
    probe = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                               "autoload_known_extensions": False})
    try:
        probe.execute(f"LOAD {lake.sql_literal(str(lake.extension_files()[0]))}")
        probe.execute(f"ATTACH {lake.sql_literal(lake.probe_conninfo(location))} AS catalog_probe "
                      "(TYPE postgres, READ_ONLY)")
    except duckdb.Error as exc:
        return lake.catalog_reason(str(exc))
    except lake.LakeSettingError:
        return None
    finally:
        probe.close()
    return None


# A query cut off while the catalog answers a fresh login is retried this many times anyway: the server may
# have come back between the cut and the probe, and a cut that repeats is a bug, not an outage.
_CUT_OFF_RETRIES = 3


_OTHER_RETRIES = 1


def _lake_retry(location: lake.LakeLocation, deadline: float, step: Callable[[], T]) -> T:
    """Run ``step``, again after a back-off while it loses a commit race or the catalog is unreachable."""
    delays = lake.backoff_delays()
    cut_offs = others = 0
    while True:
        try:
            return step()
        except (duckdb.Error, StoreError) as exc:
            cause = exc.__cause__ if isinstance(exc, StoreError) and exc.__cause__ else exc
            transient = lake.is_conflict(cause) or lake.is_unreachable(cause)
            if not transient and lake.is_cut_off(cause):
                cut_offs += 1
                transient = cut_offs <= _CUT_OFF_RETRIES or catalog_refusal(location) is not None
            elif not transient and isinstance(cause, duckdb.Error) and not lake.is_disk_full(cause):
                # Any other DuckDB error is tried once more on a new instance: a catalog connection that went
                # stale under a PostgreSQL restart speaks in words not listed above. A bug repeats, and is raised.
                others += 1
                transient = others <= _OTHER_RETRIES or catalog_refusal(location) is not None
            if not transient or time.monotonic() >= deadline:
                raise (exc if isinstance(exc, StoreError) else _lake_error(location, exc)) from cause
            if not lake.is_conflict(cause):
                _forget_lake(location)  # after an outage, start again from a new instance and a new login
            time.sleep(next(delays))


# Cursors that could not be closed safely (see :func:`_end_cursor`): never freed, on purpose.
_ABANDONED: list[duckdb.DuckDBPyConnection] = []


def _end_cursor(location: lake.LakeLocation, con: duckdb.DuckDBPyConnection) -> None:
    """Roll back whatever ``con`` still has open, then close it; or, if the instance was invalidated (DuckDB's
    FATAL: an internal error met while the catalog went away, «index 0 within vector of size 0»), keep it open
    for good and forget the instance.

    Closing a cursor whose transaction is still open rolls it back inside DuckDB's destructor, where an error
    cannot be thrown: the process aborts («terminate called after throwing an instance of 'duckdb::Exception'»),
    skipping every clean-up and the clear error the run would have printed. A ROLLBACK that fails while talking to
    the catalog has already dropped the transaction (closing is then safe); one refused because the instance is
    invalidated has not, and never will. Such a cursor is kept referenced past the interpreter's own clean-up (its
    memory is the price of an orderly failure), and the next connection starts a new instance.
    """
    try:
        con.execute("ROLLBACK")
    except duckdb.Error as exc:
        if isinstance(exc, duckdb.FatalException) or "invalidated" in str(exc):
            _forget_lake(location)
            _ABANDONED.append(con)
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(con))  # not even finalisation at exit may free it
            return
    con.close()


def _forget_lake(location: lake.LakeLocation) -> None:
    """Stop handing out this process's instance of a lake (cursors still open keep it alive until closed)."""
    key = (os.getpid(), location.catalog)
    with _LAKES_GUARD:
        _LAKES.pop(key, None)
        _LAKES_MIGRATED.discard(key)


def _lake_base(location: lake.LakeLocation, read_only: bool, deadline: float) -> duckdb.DuckDBPyConnection:
    key = (os.getpid(), location.catalog)  # never reuse an instance across a fork
    with _LAKES_GUARD:
        base = _LAKES.get(key)
        if base is None:
            base = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                                      "autoload_known_extensions": False})
            try:
                for path in lake.extension_files():
                    base.execute(f"LOAD {lake.sql_literal(str(path))}")
                _lake_retry(location, deadline, lambda: base.execute(location.attach_sql()))
            except lake.LakeSettingError as exc:
                base.close()
                raise StoreError(str(exc)) from exc
            except BaseException:
                base.close()
                raise
            _LAKES[key] = base
        if key not in _LAKES_MIGRATED:
            con = base.cursor()
            try:
                con.execute(f"USE {lake.CATALOG_ALIAS}")
                if read_only and "schema_migrations" not in _lake_tables(con):
                    raise StoreNotFound(f"{location.display}: database not found (run `qa run` first)")
                con.execute(f"SET search_path = '{lake.CATALOG_ALIAS}.main,temp.main'")
                define_day(con)  # views that call qa_day are bound while migrating
                migrate_lake(con, lambda step: _lake_retry(location, deadline, step))
            except duckdb.Error as exc:
                raise _lake_error(location, exc) from exc
            finally:
                con.close()
            _LAKES_MIGRATED.add(key)
    return base


def close_lakes() -> None:
    """Close this process's lake connections (tests do, before stopping their PostgreSQL)."""
    with _LAKES_GUARD:
        for con in _LAKES.values():
            con.close()
        _LAKES.clear()
        _LAKES_MIGRATED.clear()


def copy_into_lake(source: FileStore, target: LakeStore) -> dict[str, int]:
    """Copy every table of a DuckDB file store into a lake that holds nothing yet (one transaction); the rows
    copied per table. Both are migrated to the same version first."""
    if not isinstance(source, FileStore) or not isinstance(target, LakeStore):
        raise StoreError(f"copy_into_lake: from a DuckDB file to a ducklake: setting, not {source} to {target}")
    if not source.exists():
        raise StoreNotFound(f"{source.path}: database not found")
    with source.connect():
        pass  # migrated to this version (and closed) before it is attached
    copied: dict[str, int] = {}

    def body(con: duckdb.DuckDBPyConnection) -> None:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE "
                                            "table_catalog = 'qa_source' AND table_type = 'BASE TABLE'").fetchall()}
        for table in sorted((tables & _lake_tables(con)) - {"schema_migrations", WRITE_TOKEN}):
            if con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]:
                raise StoreError(f"{target.display}: table {table} is not empty; copy into a new lake")
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM qa_source.main.{table}")
            copied[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    with target.connect() as con:  # created and migrated; the file attached to this process's lake instance
        con.execute(f"ATTACH {lake.sql_literal(str(source.path.resolve()))} AS qa_source (READ_ONLY)")
    try:
        target.write_transaction(body)
    finally:
        with target.connect() as con:
            con.execute("DETACH qa_source")
    return copied
