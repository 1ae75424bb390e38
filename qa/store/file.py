"""A store in one DuckDB file (the default).

A DuckDB file allows one read-write process or many read-only ones. Writers therefore open, write one short
transaction in bulk and close; readers open read-only and retry while a writer holds the file. No connection is
ever shared across threads or tasks.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from qa.store.base import LOCK_RETRY_S, Store, StoreError, StoreNotFound
from qa.store.days import define_day
from qa.store.locked import lock
from qa.store.migrations import migrate, pending_migrations

T = TypeVar("T")
# ... and a file a writer has just created but not yet written its header to: wait for it like for a lock.
_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked", "not a valid DuckDB database file")
# DuckDB writes three 4 KiB header blocks when it creates a file: a file smaller than that, or just written, may be
# one another process is creating now (wait for it, as for a lock); a settled one is damaged.
_HEADER_BYTES = 3 * 4096
_CREATING_S = 5.0
_MAGIC = (8, b"DUCK")  # DuckDB's file header: an 8-byte checksum, then these bytes

# DuckDB refuses a second connection to the same file with another configuration (read-only beside read-write)
# in one process, so connections of one process to one file are taken in turn (Prefect tasks and web requests
# run in threads). Other processes are waited for by retrying.
_PROCESS_LOCKS: dict[str, threading.RLock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def _process_lock(db_path: Path) -> threading.RLock:
    key = str(db_path.resolve())
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(key, threading.RLock())


# A writer connection held across calls (:meth:`FileStore.hold`), per file: kept at most HOLD_S seconds at a stretch,
# then closed (checkpointed) and, GIVE_WAY_S later, opened again, so readers in other processes (retrying every
# half second at most) get their turn; with ``idle_s``, also closed once no call has used it for that long.
HOLD_S = 5.0
GIVE_WAY_S = 0.3
NIGHT_IDLE_S = 1.0  # the nightly flow's writer connection is closed once no chunk has been written for this long


@dataclass
class _Held:
    lock: threading.RLock
    idle_s: float | None = None
    con: duckdb.DuckDBPyConnection | None = None
    since: float = 0.0
    uses: int = 0
    timer: threading.Timer | None = None

    def connection(self, db_path: Path, deadline: float) -> duckdb.DuckDBPyConnection:
        """The held connection, opened (or, after HOLD_S, reopened after giving way) when needed."""
        self.uses += 1
        if self.con is not None and time.monotonic() - self.since > HOLD_S:
            self.release()
            time.sleep(GIVE_WAY_S)
        if self.con is None:
            self.con = _open(db_path, False, deadline)
            define_day(self.con)
            self.since = time.monotonic()
        return self.con

    def used(self) -> None:
        """A call is done with the connection: with ``idle_s``, close it if no other call comes within that time."""
        if self.idle_s is None or self.con is None:
            return
        if self.timer is not None:
            self.timer.cancel()
        self.timer = threading.Timer(self.idle_s, self._release_if_idle, args=(self.uses,))
        self.timer.daemon = True
        self.timer.start()

    def _release_if_idle(self, uses: int) -> None:
        with self.lock:
            if self.uses == uses:
                self.release()

    def release(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.con is not None:
            con, self.con = self.con, None
            con.close()


_HELD: dict[str, _Held] = {}

# Files whose checkpoints this process defers (:meth:`FileStore.deferred_checkpoints`): how many blocks are open.
_DEFERRING: dict[str, int] = {}
# The write-ahead log a deferring writer lets grow before DuckDB checkpoints: every open (the writer's next chunk, a
# reader's request) replays the log, and every checkpoint rewrites the last row group of each table written, so the
# best size balances the two (figures: README, "Performance").
DEFERRED_LOG_MB = 16  # the default; ``QA_DEFERRED_LOG_MB`` overrides it, read when a deferring writer opens


def deferred_log_mb() -> int:
    """The log size (MiB) a deferring writer lets grow: ``QA_DEFERRED_LOG_MB``, else :data:`DEFERRED_LOG_MB`."""
    raw = os.environ.get("QA_DEFERRED_LOG_MB", "").strip()
    if not raw:
        return DEFERRED_LOG_MB
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"QA_DEFERRED_LOG_MB={raw!r} is not a whole number of MiB") from exc


@dataclass(frozen=True)
class FileStore(Store):
    """A DuckDB file at ``path`` (created and migrated by the first write)."""

    path: Path

    @property
    def location(self) -> str:
        return str(self.path)

    @contextmanager
    def connect(self, read_only: bool = False, wait_s: float = LOCK_RETRY_S) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the file (creating and migrating it when writable), retrying while another process writes."""
        db_path = self.path
        if read_only and not db_path.exists():
            raise StoreNotFound(f"{db_path}: database not found (run `qa run` first)")
        if not read_only:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait_s
        with _process_lock(db_path):
            held = _HELD.get(str(db_path.resolve()))
            if held is not None:  # this process holds the writer: every call uses it, one at a time
                try:
                    yield held.connection(db_path, deadline)
                finally:
                    held.used()
                return
            con = _open(db_path, read_only, deadline)
            if read_only and pending_migrations(con):
                # A database written by an older version: upgrade it once, then read.
                con.close()
                _open(db_path, False, deadline).close()
                con = _open(db_path, True, deadline)
            try:
                define_day(con)
                yield con
            finally:
                con.close()

    @contextmanager
    def hold(self, idle_s: float | None = None) -> Iterator[None]:
        """Inside the block this process's calls share one writer connection (no open, migration check and
        checkpoint per call), given up for other processes every :data:`HOLD_S` seconds, and after ``idle_s``
        seconds without a call when given, and closed at the end."""
        key = str(self.path.resolve())
        lock = _process_lock(self.path)
        with lock:
            nested = key in _HELD  # held already: the outer block releases it
            held = _HELD.setdefault(key, _Held(lock, idle_s))
        if nested:
            yield
            return
        try:
            yield
        finally:
            with _process_lock(self.path):
                _HELD.pop(key, None)
                held.release()

    @contextmanager
    def night_writes(self) -> Iterator[None]:
        """One writer connection while writes follow each other (closed after :data:`NIGHT_IDLE_S` without one),
        and the checkpoints deferred to the log's threshold and the block's end."""
        with self.hold(idle_s=NIGHT_IDLE_S), self.deferred_checkpoints():
            yield

    @contextmanager
    def deferred_checkpoints(self) -> Iterator[None]:
        """Inside the block this process's writer connections close without checkpointing (their commits stay in
        the write-ahead log, which DuckDB folds in past ``checkpoint_threshold``); the block's end checkpoints the
        file once (even when the block fails: what was committed is kept either way)."""
        key = str(self.path.resolve())
        with _process_lock(self.path):
            _DEFERRING[key] = _DEFERRING.get(key, 0) + 1
        try:
            yield
        except BaseException:
            self._stop_deferring(key, quiet=True)  # the block's own error is the one to see
            raise
        self._stop_deferring(key)

    def _stop_deferring(self, key: str, quiet: bool = False) -> None:
        with _process_lock(self.path):
            _DEFERRING[key] -= 1
            last = not _DEFERRING[key]
            if last:
                del _DEFERRING[key]
        if not last or not self.path.exists():
            return
        try:
            self._checkpoint()
        except StoreError:
            if not quiet:
                raise

    def _checkpoint(self) -> None:
        """Fold the write-ahead log into the file (a writer connection's close does it)."""
        with self.connect() as con:
            con.execute("CHECKPOINT")

    @contextmanager
    def locked_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The file opened read-only and locked (:func:`qa.store.locked.lock`), after any pending migration and
        while no writer holds it."""
        with self.connect(read_only=True):
            pass  # not found, damaged, an older version to upgrade, a writer to wait for: as for any read
        with _process_lock(self.path):
            con = _open(self.path, True, time.monotonic() + LOCK_RETRY_S)
            try:
                define_day(con)
                lock(con)
                yield con
            finally:
                con.close()

    def write_transaction(self, body: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``body(con)`` once in one write transaction, rolled back on error."""
        with self.connect() as con:
            con.execute("BEGIN")
            try:
                result = body(con)
                con.execute("COMMIT")
            except BaseException:
                try:
                    con.execute("ROLLBACK")
                except duckdb.TransactionException:
                    pass  # already rolled back (an interrupted statement, a failed COMMIT)
                raise
            return result

    def run_queries(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[tuple[list[str], list]]:
        out = []
        with self.connect(read_only=True) as con:
            for sql, params in statements:
                cur = con.execute(sql, list(params))
                out.append(([d[0] for d in cur.description] if cur.description else [], cur.fetchall()))
        return out

    def exists(self) -> bool:
        """Whether the file exists."""
        return self.path.exists()

    def check_not_damaged(self) -> None:
        """Raise :class:`StoreError` when the file is a settled one that is no DuckDB database (without opening
        it, so without waiting for a writer's lock); a missing file or one being created passes."""
        path = self.path
        try:
            info = path.stat()
            with path.open("rb") as head:
                header = head.read(_MAGIC[0] + len(_MAGIC[1]))
        except OSError:
            return
        settled = info.st_size >= _HEADER_BYTES and time.time() - info.st_mtime > _CREATING_S
        if settled and header[_MAGIC[0]:] != _MAGIC[1]:
            raise StoreError(_damaged_message(path))


def _is_lock_error(exc: Exception) -> bool:
    return any(marker in str(exc) for marker in _LOCK_MARKERS)


def is_settled_non_database(db_path: Path, exc: BaseException) -> bool:
    """Whether ``exc`` says the file is no DuckDB database, and it is not one still being created."""
    if "not a valid DuckDB database file" not in str(exc):
        return False
    try:
        info = db_path.stat()
    except OSError:
        return False
    return info.st_size >= _HEADER_BYTES and time.time() - info.st_mtime > _CREATING_S


def _damaged_message(db_path: Path) -> str:
    return (f"{db_path}: not a DuckDB database (damaged, or another kind of file); restore it from a backup or "
            f"point --db elsewhere")


def _open(db_path: Path, read_only: bool, deadline: float) -> duckdb.DuckDBPyConnection:
    """duckdb.connect, retried while another process holds the file; a read-write open is migrated."""
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(db_path), read_only=read_only)
            break
        except duckdb.Error as exc:
            if is_settled_non_database(db_path, exc):
                raise StoreError(_damaged_message(db_path)) from exc
            if not _is_lock_error(exc) or time.monotonic() >= deadline:
                raise StoreError(f"{db_path}: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    if not read_only:
        try:
            migrate(con)
            if str(db_path.resolve()) in _DEFERRING:  # its close leaves the log (checkpointed past the threshold)
                con.execute("PRAGMA disable_checkpoint_on_shutdown")
                con.execute(f"SET checkpoint_threshold = '{deferred_log_mb()}MiB'")
        except Exception:
            con.close()
            raise
    return con
