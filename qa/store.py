"""The DuckDB store: numbered migrations, bulk writes in short transactions, read-only queries.

Two kinds, chosen by the ``db`` setting: a DuckDB file (the default) or a DuckLake (``ducklake:postgres:…``, a
PostgreSQL catalog and Parquet files in a shared folder; see :mod:`qa.lake`).

A DuckDB file allows one read-write process or many read-only ones. Writers therefore open, write one short
transaction in bulk (Arrow tables, never row-by-row) and close; readers open read-only and retry while a
writer holds the file. No connection is ever shared across threads or tasks.

A DuckLake takes many writers on many machines: commits are optimistic, every write transaction takes the lake's
write token (so two concurrent writes always conflict and the loser is retried on a fresh snapshot), and each
conversation is deleted before it is inserted in the same transaction, so a retried or racing write never leaves two
copies. Readers read a snapshot and never wait. Each process keeps one in-memory DuckDB with the lake attached and
gives every task its own connection (a cursor) to it.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from qa import lake
from qa.records import Conversation, Failure, ScoredConversation, Utterance, Word

LOCK_RETRY_S = 30.0
# ... and a file a writer has just created but not yet written its header to: wait for it like for a lock.
_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked", "not a valid DuckDB database file")


class StoreError(Exception):
    """The database could not be opened or read."""


class StoreNotFound(StoreError):
    """Nothing has been stored yet (no DuckDB file; a lake without the QA tables)."""


T = TypeVar("T")
WRITE_TOKEN = "qa_write_token"  # DuckLake only: the one row every write transaction updates


def display_name(db_path: str | Path) -> str:
    """The store's name for messages (a lake's password masked)."""
    if lake.is_lake(db_path):
        try:
            return lake.parse_location(db_path).display
        except lake.LakeSettingError:
            return "ducklake:…"
    return str(db_path)


# DuckDB refuses a second connection to the same file with another configuration (read-only beside read-write)
# in one process, so connections of one process to one file are taken in turn (Prefect tasks and web requests
# run in threads). Other processes are waited for by retrying.
_PROCESS_LOCKS: dict[str, threading.RLock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def _process_lock(db_path: Path) -> threading.RLock:
    key = str(db_path.resolve())
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(key, threading.RLock())


@dataclass(frozen=True)
class RunInfo:
    """One flow run (or rescore), as recorded in ``runs``."""

    run_id: str
    kind: str = "run"
    inbox: str | None = None
    ruleset_version: str | None = None
    rules_dir: str | None = None
    model: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunCounts:
    discovered: int = 0
    skipped: int = 0
    processed: int = 0
    failed: int = 0
    flagged: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("qa") / "migrations"
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
    for number, name, sql in _migrations():
        if number in done:
            continue
        con.execute("BEGIN")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [number, name, _now()])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


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
    """:func:`migrate` for a DuckLake: each migration translated (:func:`qa.lake.translate_migration`: no keys,
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
    for number, name, sql in _migrations():

        def apply(number: int = number, name: str = name, sql: str = sql) -> None:
            if con.execute("SELECT 1 FROM schema_migrations WHERE version = ?", [number]).fetchone():
                return
            for statement in lake.translate_migration(sql):
                con.execute(statement)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [number, name, _now()])
            applied.append(name)

        if con.execute("SELECT 1 FROM schema_migrations WHERE version = ?", [number]).fetchone():
            continue
        retry(lambda apply=apply: _lake_transaction(con, apply))
    return applied


def _is_lock_error(exc: Exception) -> bool:
    return any(marker in str(exc) for marker in _LOCK_MARKERS)


@contextmanager
def connect(db_path: str | Path, read_only: bool = False, wait_s: float = LOCK_RETRY_S) -> Iterator[
    duckdb.DuckDBPyConnection
]:
    """Open the database (creating and migrating it when writable), retrying while another process writes.

    A lake connection opened ``read_only`` reads one snapshot and anything it writes is rolled back.
    """
    if lake.is_lake(db_path):
        with _lake_connect(str(db_path), read_only, wait_s) as con:
            yield con
        return
    db_path = Path(db_path)
    if read_only and not db_path.exists():
        raise StoreNotFound(f"{db_path}: database not found (run `qa run` first)")
    if not read_only:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    with _process_lock(db_path):
        con = _open(db_path, read_only, deadline)
        if read_only and _pending_migrations(con):
            # A database written by an older version: upgrade it once, then read.
            con.close()
            _open(db_path, False, deadline).close()
            con = _open(db_path, True, deadline)
        try:
            define_day(con)
            yield con
        finally:
            con.close()


# DuckDB writes three 4 KiB header blocks when it creates a file: a file smaller than that, or just written, may be
# one another process is creating now (wait for it, as for a lock); a settled one is damaged.
_HEADER_BYTES = 3 * 4096
_CREATING_S = 5.0


def _is_settled_non_database(db_path: Path, exc: BaseException) -> bool:
    """Whether ``exc`` says the file is no DuckDB database, and it is not one still being created."""
    if "not a valid DuckDB database file" not in str(exc):
        return False
    try:
        info = db_path.stat()
    except OSError:
        return False
    return info.st_size >= _HEADER_BYTES and time.time() - info.st_mtime > _CREATING_S


_MAGIC = (8, b"DUCK")  # DuckDB's file header: an 8-byte checksum, then these bytes


def check_not_damaged(db_path: str | Path) -> None:
    """Raise :class:`StoreError` when ``db_path`` is a settled file that is no DuckDB database (without opening
    it, so without waiting for a writer's lock); a missing file, one being created or a lake passes."""
    if lake.is_lake(db_path):
        return
    path = Path(db_path)
    try:
        info = path.stat()
        with path.open("rb") as head:
            header = head.read(_MAGIC[0] + len(_MAGIC[1]))
    except OSError:
        return
    settled = info.st_size >= _HEADER_BYTES and time.time() - info.st_mtime > _CREATING_S
    if settled and header[_MAGIC[0]:] != _MAGIC[1]:
        raise StoreError(_damaged_message(path))


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
            if _is_settled_non_database(db_path, exc):
                raise StoreError(_damaged_message(db_path)) from exc
            if not _is_lock_error(exc) or time.monotonic() >= deadline:
                raise StoreError(f"{db_path}: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    if not read_only:
        try:
            migrate(con)
        except Exception:
            con.close()
            raise
    return con


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


def _forget_lake(location: lake.LakeLocation) -> None:
    """Stop handing out this process's instance of a lake (cursors still open keep it alive until closed)."""
    key = (os.getpid(), location.catalog)
    with _LAKES_GUARD:
        _LAKES.pop(key, None)
        _LAKES_MIGRATED.discard(key)


def _lake_location(db: str | Path) -> lake.LakeLocation:
    try:
        return lake.parse_location(db)
    except lake.LakeSettingError as exc:
        raise StoreError(str(exc)) from exc


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


@contextmanager
def _lake_connect(db: str, read_only: bool, wait_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
    location = _lake_location(db)
    deadline = time.monotonic() + min(wait_s, lake.retry_seconds())
    try:
        base = _lake_base(location, read_only, deadline)
    except duckdb.Error as exc:
        raise _lake_error(location, exc) from exc
    con = base.cursor()
    try:
        con.execute(f"USE {lake.CATALOG_ALIAS}")
        # temp objects (per-connection macros, registered Arrow tables) resolve as they do on a file
        con.execute(f"SET search_path = '{lake.CATALOG_ALIAS}.main,temp.main'")
        define_day(con)  # the lake keeps no macro: qa_day is this connection's, in the configured time zone
        if read_only:
            con.execute("BEGIN")  # one snapshot for every statement; nothing written survives
        yield con
    except duckdb.Error as exc:
        if lake.is_unreachable(exc) or lake.is_disk_full(exc):
            raise _lake_error(location, exc) from exc
        raise
    finally:
        if read_only:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass
        con.close()


def write_transaction(db_path: str | Path, body: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
    """Run ``body(con)`` in one write transaction and return its result.

    On a DuckDB file: once, rolled back on error. On a DuckLake: with the write token taken, and run again from a
    fresh snapshot (after a back-off, for up to ``QA_LAKE_RETRY_S``) when the commit loses a race with another
    writer or the catalog is unreachable; ``body`` must therefore be safe to repeat (delete, then insert).
    """
    if not lake.is_lake(db_path):
        with connect(db_path) as con:
            con.execute("BEGIN")
            try:
                result = body(con)
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            return result
    location = _lake_location(db_path)
    deadline = time.monotonic() + lake.retry_seconds()

    def attempt() -> T:
        with connect(db_path) as con:
            return _lake_transaction(con, lambda: body(con))

    return _lake_retry(location, deadline, attempt)


def copy_into_lake(file_db: str | Path, lake_db: str) -> dict[str, int]:
    """Copy every table of a DuckDB file store into a lake that holds nothing yet (one transaction); the rows
    copied per table. Both are migrated to the same version first."""
    file_db = Path(file_db)
    if lake.is_lake(file_db) or not lake.is_lake(lake_db):
        raise StoreError(f"copy_into_lake: from a DuckDB file to a ducklake: setting, not {file_db} to {lake_db}")
    if not file_db.exists():
        raise StoreNotFound(f"{file_db}: database not found")
    with connect(file_db):
        pass  # migrated to this version (and closed) before it is attached
    copied: dict[str, int] = {}

    def body(con: duckdb.DuckDBPyConnection) -> None:
        source = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE "
                                            "table_catalog = 'qa_source' AND table_type = 'BASE TABLE'").fetchall()}
        for table in sorted((source & _lake_tables(con)) - {"schema_migrations", WRITE_TOKEN}):
            if con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]:
                raise StoreError(f"{display_name(lake_db)}: table {table} is not empty; copy into a new lake")
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM qa_source.main.{table}")
            copied[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    with connect(lake_db) as con:  # created and migrated; the file attached to this process's lake instance
        con.execute(f"ATTACH {lake.sql_literal(str(file_db.resolve()))} AS qa_source (READ_ONLY)")
    try:
        write_transaction(lake_db, body)
    finally:
        with connect(lake_db) as con:
            con.execute("DETACH qa_source")
    return copied


def exists(db_path: str | Path) -> bool:
    """Whether anything is stored yet: the DuckDB file exists, or the lake has the QA tables."""
    if not lake.is_lake(db_path):
        return Path(db_path).exists()
    try:
        with connect(db_path, read_only=True):
            return True
    except StoreNotFound:
        return False


def _pending_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "schema_migrations" not in tables:
        return [name for _, name, _ in _migrations()]
    done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    return [name for number, name, _ in _migrations() if number not in done]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    """Bulk insert rows (dicts with the table's column names) through an Arrow table."""
    if not rows:
        return
    columns = list(rows[0])
    arrow = pa.table({c: [r[c] for r in rows] for c in columns})
    con.register("_bulk_rows", arrow)
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM _bulk_rows")
    finally:
        con.unregister("_bulk_rows")


def stored_hashes(db_path: str | Path) -> set[str]:
    """Content hashes of every stored conversation (empty when there is no database yet)."""
    if not exists(db_path):
        return set()
    with connect(db_path, read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "conversations" not in tables:
            return set()
        return {r[0] for r in con.execute("SELECT content_sha256 FROM conversations").fetchall()}


PERMANENT_STAGES = ("input", "discover", "decode", "parse")  # the file itself is bad: retrying cannot help


def permanently_failed_hashes(db_path: str | Path) -> set[str]:
    """Content hashes of inputs that failed because the file is bad (truncated audio, broken JSON): a file is
    tried again only once its content (and so its hash) changes."""
    if not exists(db_path):
        return set()
    with connect(db_path, read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "failures" not in tables:
            return set()
        rows = con.execute("SELECT DISTINCT content_sha256 FROM failures WHERE content_sha256 IS NOT NULL AND stage "
                           "IN (SELECT unnest(?::VARCHAR[]))", [list(PERMANENT_STAGES)]).fetchall()
        return {r[0] for r in rows}


def start_run(db_path: str | Path, run: RunInfo) -> None:
    """Record a run as running."""
    started = _now()

    def body(con: duckdb.DuckDBPyConnection) -> None:
        if lake.is_lake(db_path):  # a retried commit that had in fact landed leaves no second row
            con.execute("DELETE FROM runs WHERE run_id = ?", [run.run_id])
        con.execute(
            "INSERT INTO runs (run_id, kind, started_at, status, inbox, ruleset_version, rules_dir, model, settings)"
            " VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
            [run.run_id, run.kind, started, run.inbox, run.ruleset_version, run.rules_dir, run.model,
             _json(run.settings)],
        )

    write_transaction(db_path, body)


def finish_run(db_path: str | Path, run_id: str, counts: RunCounts, status: str = "completed") -> None:
    """Record a run's end and counts."""
    ended = _now()
    write_transaction(db_path, lambda con: con.execute(
        "UPDATE runs SET ended_at = ?, status = ?, discovered = ?, skipped = ?, processed = ?, failed = ?,"
        " flagged = ? WHERE run_id = ?",
        [ended, status, counts.discovered, counts.skipped, counts.processed, counts.failed, counts.flagged, run_id],
    ))


def _conversation_row(c: Conversation, run_id: str, now: datetime) -> dict[str, Any]:
    return {
        "conversation_id": c.conversation_id, "channel": c.channel, "source_path": c.source_path,
        "content_sha256": c.content_sha256, "operator_id": c.operator_id, "team": c.team,
        "started_at": c.started_at, "duration_s": c.duration_s, "speaker_mode": c.speaker_mode,
        "metadata": _json(c.metadata), "transcription": _json(c.transcription), "ingested_at": now,
        "run_id": run_id,
    }


def _utterance_rows(c: Conversation) -> list[dict[str, Any]]:
    from qa.rescore_store import tokens_json

    version = _analysis_version() if any(u.tokens for u in c.utterances) else None  # None: not analysed
    return [
        {"conversation_id": c.conversation_id, "idx": i, "speaker": u.speaker, "start_s": u.start,
         "end_s": u.end, "text": u.text, "lemmas": u.lemmas,
         "words": _json([[w.text, w.start, w.end, w.probability] for w in u.words]) if u.words else None,
         "tokens": tokens_json(u.tokens) if version else None, "analysis_version": version}
        for i, u in enumerate(c.utterances)
    ]


def _analysis_version() -> str:
    from qa.analysis_version import analysis_version

    return analysis_version()


def _flat_dict(record: Any) -> dict[str, Any]:
    """A dataclass of plain fields as a dict (``asdict`` without its deep copy: a rescore writes millions)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _score_rows(s: ScoredConversation, run_id: str, now: datetime) -> tuple[list[dict], list[dict]]:
    cid = s.conversation.conversation_id
    findings = [
        {"conversation_id": cid, "ruleset_version": s.ruleset_version, "finding_idx": i, "rule_id": f.rule_id,
         "category": f.category, "kind": f.kind, "severity": f.severity, "speaker": f.speaker,
         "start_s": f.start_s, "end_s": f.end_s, "quote": f.quote, "message": f.message,
         "utterance_idx": f.utterance_idx, "details": _json(f.details)}
        for i, f in enumerate(s.findings)
    ]
    details = {"script": [_flat_dict(step) for step in s.steps], "metrics": s.metrics}
    score = {
        "conversation_id": cid, "ruleset_version": s.ruleset_version, "total": s.score.total,
        "passed": s.score.passed, "flagged": s.score.flagged, "escalation": s.score.escalation,
        "auto_failed": s.score.auto_failed, "reasons": _json(list(s.score.reasons)), "details": _json(details),
        "scored_at": now, "run_id": run_id,
    }
    return findings, [score]


def _reviewed_now(con: duckdb.DuckDBPyConnection, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The current findings of these conversations that carry a verdict, with the verdict."""
    con.register("_reviewed_ids", pa.table({"conversation_id": list(ids)}))
    try:
        if not con.execute("SELECT 1 FROM reviews WHERE conversation_id IN (SELECT conversation_id FROM "
                           "_reviewed_ids) LIMIT 1").fetchone():
            return []  # nothing reviewed: skip the join of the current-results views
        cur = con.execute(
            "SELECT r.conversation_id, r.finding_key, r.rule_id, r.verdict, r.comment, r.reviewer, r.created_at, "
            "f.utterance_idx, f.start_s, f.end_s FROM latest_reviews r JOIN latest_findings f "
            "ON f.conversation_id = r.conversation_id AND f.finding_key = r.finding_key "
            "WHERE r.conversation_id IN (SELECT conversation_id FROM _reviewed_ids)")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.unregister("_reviewed_ids")


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> tuple[float, float]:
    """Sort key for a finding's likeness to its reviewed ancestor: time overlap, then nearness of start."""
    shared = min(a["end_s"], b["end_s"]) - max(a["start_s"], b["start_s"])
    return shared, -abs(a["start_s"] - b["start_s"])


def carry_reviews(con: duckdb.DuckDBPyConnection, before: Sequence[dict[str, Any]]) -> int:
    """Re-attach verdicts whose finding key vanished (a rule edit moved the finding's start) to the new finding of
    the same rule on the same utterance, the one overlapping the old one most; returns how many were carried.

    ``before`` is :func:`_reviewed_now` taken before the findings were replaced.
    """
    ids = sorted({r["conversation_id"] for r in before})
    if not ids:
        return 0
    con.register("_carry_ids", pa.table({"conversation_id": ids}))
    try:
        cur = con.execute("SELECT conversation_id, finding_key, rule_id, utterance_idx, start_s, end_s "
                          "FROM latest_findings WHERE conversation_id IN (SELECT conversation_id FROM _carry_ids)")
        cols = [d[0] for d in cur.description]
        current = [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
        taken = set(con.execute("SELECT conversation_id, finding_key FROM latest_reviews WHERE finding_key IS NOT "
                                "NULL AND conversation_id IN (SELECT conversation_id FROM _carry_ids)").fetchall())
    finally:
        con.unregister("_carry_ids")
    keys = {(f["conversation_id"], f["finding_key"]) for f in current}
    carried = 0
    for old in before:
        if (old["conversation_id"], old["finding_key"]) in keys:
            continue  # the same key: the verdict is still attached
        heirs = [f for f in current if f["conversation_id"] == old["conversation_id"]
                 and f["rule_id"] == old["rule_id"] and f["utterance_idx"] == old["utterance_idx"]
                 and (f["conversation_id"], f["finding_key"]) not in taken]
        if not heirs:
            continue
        heir = max(heirs, key=lambda f: _overlap(f, old))
        con.execute(
            "INSERT INTO reviews (review_id, conversation_id, finding_key, rule_id, verdict, comment, reviewer, "
            "created_at, carried_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [str(uuid.uuid4()), heir["conversation_id"], heir["finding_key"], heir["rule_id"], old["verdict"],
             old["comment"], old["reviewer"], old["created_at"], old["finding_key"]])
        _set_verdict(con, heir["conversation_id"], heir["finding_key"], old["verdict"])
        taken.add((heir["conversation_id"], heir["finding_key"]))
        carried += 1
    return carried


@functools.lru_cache(maxsize=16)
def _fixed_offset_since(zone: str) -> tuple[datetime, int] | None:
    """``(moment, offset in seconds)`` when ``zone`` keeps one UTC offset from that moment through 2100 (Moscow:
    +3 since October 2014), found by weekly samples and a bisection; ``None`` for zones that keep changing (DST)."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)

    def offset(at: datetime) -> int:
        return int(at.astimezone(tz).utcoffset().total_seconds())  # type: ignore[union-attr]

    first, last = datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    final = offset(last)
    at, changed = last, None
    while at > first:  # the latest week whose start has another offset
        at -= timedelta(days=7)
        if offset(at) != final:
            changed = at
            break
    if changed is None:
        return first, final
    if changed.year >= 2090:
        return None  # still changing: daylight saving time
    low, high = changed, changed + timedelta(days=7)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        low, high = (middle, high) if offset(middle) != final else (low, middle)
    return high.replace(microsecond=0), final


def define_day(con: duckdb.DuckDBPyConnection, timezone: str | None = None) -> None:
    """(Re)define ``qa_day`` for this connection in ``timezone`` (default: the configured one), so ``day`` in every
    daily view and ``qa stats --by day`` falls on the same calendar day as ``--since``/``--until`` and the display.

    Days are computed when read, never stored, so a changed setting needs no re-scoring. Where the zone has kept
    one offset (most zones without daylight saving), the day is plain arithmetic on the epoch; before that, and in
    zones with daylight saving, the ICU conversion.
    """
    from qa.config import check_timezone, configured_timezone

    zone = timezone or configured_timezone()
    check_timezone(zone)  # an IANA name: safe to quote into the macro's text
    exact = f"CAST(timezone('{zone}', coalesce(started_at, scored_at)) AS DATE)"
    fixed = _fixed_offset_since(zone)
    if fixed is None:
        body = exact
    else:
        since, seconds = fixed
        body = (f"CASE WHEN coalesce(started_at, scored_at) >= TIMESTAMPTZ '{since.isoformat()}' THEN DATE "
                f"'1970-01-01' + CAST((epoch_us(coalesce(started_at, scored_at)) + {seconds * 1_000_000}) "
                f"// 86400000000 AS INTEGER) ELSE {exact} END")
    con.execute(f"CREATE OR REPLACE TEMP MACRO qa_day(started_at, scored_at) AS {body}")


# The current results of some conversations, rebuilt from the base tables (scores, findings, conversations).
# Migration 006 runs the same statements for every conversation. `{ids}` is a relation of conversation ids.
_CURRENT_SCORES_SQL = """
INSERT INTO current_scores
WITH chosen_key AS (  -- ranked on narrow columns only: the wide details stream through the join below
    SELECT conversation_id, ruleset_version FROM scores WHERE conversation_id IN (SELECT conversation_id FROM {ids})
    QUALIFY row_number() OVER (PARTITION BY conversation_id ORDER BY scored_at DESC, ruleset_version) = 1
), chosen AS (
    SELECT s.* FROM scores s JOIN chosen_key k
    ON k.conversation_id = s.conversation_id AND k.ruleset_version = s.ruleset_version
), found AS (
    SELECT f.conversation_id, count(*) AS findings, string_agg(DISTINCT f.rule_id, ', ' ORDER BY f.rule_id) AS rules,
           first(f.quote ORDER BY CASE f.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2
                                  WHEN 'low' THEN 3 ELSE 4 END, f.start_s) AS top_quote
    FROM findings f JOIN chosen s ON s.conversation_id = f.conversation_id AND s.ruleset_version = f.ruleset_version
    GROUP BY f.conversation_id
)
SELECT s.conversation_id, s.ruleset_version, s.total, s.passed, s.flagged, s.escalation, s.auto_failed, s.reasons,
       s.details, s.scored_at, s.run_id, c.channel, c.team, c.operator_id, c.started_at, c.duration_s,
       coalesce(c.started_at, s.scored_at), coalesce(found.findings, 0), found.rules, found.top_quote
FROM chosen s JOIN conversations c ON c.conversation_id = s.conversation_id
LEFT JOIN found ON found.conversation_id = s.conversation_id
ORDER BY coalesce(c.started_at, s.scored_at), s.conversation_id
"""
_CURRENT_FINDINGS_SQL = """
INSERT INTO current_findings
WITH keyed AS (
    SELECT f.*, f.rule_id || '@' || coalesce(f.utterance_idx::VARCHAR, '-') || '@' || printf('%.1f', f.start_s)
               AS finding_key
    FROM findings f WHERE f.conversation_id IN (SELECT conversation_id FROM {ids})
)
SELECT f.*, s.channel, s.team, s.operator_id, s.dated_at, s.total, s.flagged,
       row_number() OVER (PARTITION BY f.conversation_id, f.rule_id ORDER BY f.finding_idx) = 1, r.verdict
FROM keyed f JOIN current_scores s ON s.conversation_id = f.conversation_id AND s.ruleset_version = f.ruleset_version
LEFT JOIN latest_reviews r ON r.conversation_id = f.conversation_id AND r.finding_key = f.finding_key
ORDER BY s.dated_at, f.conversation_id, f.finding_idx
"""


def _set_verdict(con: duckdb.DuckDBPyConnection, conversation_id: str, finding_key: str, verdict: str) -> None:
    """Keep ``current_findings.verdict`` equal to the verdict just recorded (the latest) on that finding."""
    con.execute("UPDATE current_findings SET verdict = ? WHERE conversation_id = ? AND finding_key = ?",
                [verdict, conversation_id, finding_key])


def refresh_current(con: duckdb.DuckDBPyConnection, ids: Sequence[str] | None = None) -> None:
    """Rewrite ``current_scores`` and ``current_findings`` for these conversations (all when ``None``) from the
    base tables: DELETE then INSERT, inside the caller's transaction. Every write path of the store calls it;
    so must anything that edits scores, findings or conversations by hand."""
    if ids is None:
        relation = "conversations"
    else:
        con.register("_current_ids", pa.table({"conversation_id": pa.array(list(ids), pa.string())}))
        relation = "_current_ids"
    try:
        for table in ("current_findings", "current_scores"):
            where = "" if ids is None else f" WHERE conversation_id IN (SELECT conversation_id FROM {relation})"
            con.execute(f"DELETE FROM {table}{where}")
        con.execute(_CURRENT_SCORES_SQL.format(ids=relation))
        con.execute(_CURRENT_FINDINGS_SQL.format(ids=relation))
    finally:
        if ids is not None:
            con.unregister("_current_ids")


def _replace_scores(con: duckdb.DuckDBPyConnection, scored: Sequence[ScoredConversation], run_id: str,
                    now: datetime) -> None:
    keys = pa.table({
        "conversation_id": [s.conversation.conversation_id for s in scored],
        "ruleset_version": [s.ruleset_version for s in scored],
    })
    con.register("_keys", keys)
    try:
        for table in ("findings", "scores"):
            con.execute(f"DELETE FROM {table} WHERE (conversation_id, ruleset_version) IN "
                        "(SELECT (conversation_id, ruleset_version) FROM _keys)")
    finally:
        con.unregister("_keys")
    findings: list[dict] = []
    scores: list[dict] = []
    for s in scored:
        f, sc = _score_rows(s, run_id, now)
        findings += f
        scores += sc
    _insert(con, "findings", findings)
    _insert(con, "scores", scores)
    refresh_current(con, sorted({s.conversation.conversation_id for s in scored}))


def write_results(db_path: str | Path, run_id: str, scored: Sequence[ScoredConversation],
                  failures: Sequence[Failure] = ()) -> None:
    """Store scored conversations (replacing any earlier copy of the same id) and failures, in one transaction.

    On a DuckLake a conversation another writer stored meanwhile with the same content is left as it is, and the
    transaction is retried whole when it loses a commit race (see :func:`write_transaction`).
    """
    now = _now()
    on_lake = lake.is_lake(db_path)

    def body(con: duckdb.DuckDBPyConnection) -> None:
        todo, replacing = list(scored), True
        if todo and on_lake:  # each statement costs catalog round trips: no deletes when nothing is stored yet
            todo, replacing = _not_stored_yet(con, todo)
        if todo:
            before = _reviewed_now(con, [s.conversation.conversation_id for s in todo])
            ids = pa.table({"conversation_id": [s.conversation.conversation_id for s in todo]})
            con.register("_ids", ids)
            for table in ("findings", "scores", "utterances", "conversations") if replacing else ():
                con.execute(f"DELETE FROM {table} WHERE conversation_id IN (SELECT conversation_id FROM _ids)")
            con.unregister("_ids")
            _insert(con, "conversations", [_conversation_row(s.conversation, run_id, now) for s in todo])
            _insert(con, "utterances", [r for s in todo for r in _utterance_rows(s.conversation)])
            _replace_scores(con, todo, run_id, now)
            carry_reviews(con, before)
        if failures and on_lake:  # a retried commit that had in fact landed leaves no second row
            con.execute("DELETE FROM failures WHERE run_id = ? AND source_path IN (SELECT unnest(?::VARCHAR[]))",
                        [run_id, [f.source_path for f in failures]])
        _insert(con, "failures", [
            {"source_path": f.source_path, "run_id": run_id, "stage": f.stage, "error": f.error,
             "content_sha256": f.content_sha256, "failed_at": now} for f in failures
        ])

    write_transaction(db_path, body)


def _not_stored_yet(con: duckdb.DuckDBPyConnection, scored: Sequence[ScoredConversation]
                    ) -> tuple[list[ScoredConversation], bool]:
    """Those of ``scored`` whose conversation id is not stored with the same content hash, and whether any of
    their ids is stored at all (with other content: an earlier copy to replace)."""
    con.register("_candidates", pa.table({"conversation_id": [s.conversation.conversation_id for s in scored]}))
    try:
        stored = set(con.execute("SELECT conversation_id, content_sha256 FROM conversations WHERE conversation_id "
                                 "IN (SELECT conversation_id FROM _candidates)").fetchall())
    finally:
        con.unregister("_candidates")
    todo = [s for s in scored if (s.conversation.conversation_id, s.conversation.content_sha256) not in stored]
    stored_ids = {cid for cid, _ in stored}
    return todo, any(s.conversation.conversation_id in stored_ids for s in todo)


def write_rescored(db_path: str | Path, run_id: str, scored: Sequence[ScoredConversation]) -> None:
    """Store new findings and scores for stored conversations (other rule set versions are kept)."""
    now = _now()

    def body(con: duckdb.DuckDBPyConnection) -> None:
        before = _reviewed_now(con, [s.conversation.conversation_id for s in scored])
        _replace_scores(con, scored, run_id, now)
        carry_reviews(con, before)

    write_transaction(db_path, body)


def load_conversations(db_path: str | Path, ids: Sequence[str] | None = None) -> list[Conversation]:
    """Stored conversations with their utterances (and word timings), for re-scoring."""
    with connect(db_path, read_only=True) as con:
        where, params = ("WHERE conversation_id IN (SELECT unnest(?))", [list(ids)]) if ids else ("", [])
        kept = f"{where} AND purged_at IS NULL" if where else "WHERE purged_at IS NULL"  # purged: nothing to score
        convs = con.execute(
            "SELECT conversation_id, channel, source_path, content_sha256, operator_id, team, started_at, "
            f"duration_s, speaker_mode, metadata, transcription FROM conversations {kept} ORDER BY conversation_id",
            params,
        ).fetchall()
        utts = con.execute(
            f"SELECT conversation_id, speaker, start_s, end_s, text, words FROM utterances {where} "
            "ORDER BY conversation_id, idx",
            params,
        ).fetchall()
    return conversations_from_rows(convs, utts)


def conversations_from_rows(convs: Sequence[tuple], utts: Sequence[tuple],
                            tokens: Callable[[str], tuple] | None = None) -> list[Conversation]:
    """Conversations from ``conversations`` rows (the columns :func:`load_conversations` selects) and their
    ``utterances`` rows ``(conversation_id, speaker, start_s, end_s, text, words[, tokens])`` in turn order;
    ``tokens`` reads a stored tokens value (rows without one keep no tokens)."""
    by_id: dict[str, list[Utterance]] = {}
    for cid, speaker, start, end, text, words, *stored in utts:
        ws = tuple(Word(w[0], w[1], w[2], w[3]) for w in json.loads(words)) if words else ()
        toks = tokens(stored[0]) if tokens and stored and stored[0] else ()
        by_id.setdefault(cid, []).append(Utterance(speaker, start, end, text, ws, toks))
    return [
        Conversation(
            conversation_id=row[0], channel=row[1], source_path=row[2], content_sha256=row[3],
            operator_id=row[4], team=row[5], started_at=row[6], duration_s=row[7], speaker_mode=row[8],
            metadata=json.loads(row[9]) if row[9] else {}, transcription=json.loads(row[10]) if row[10] else {},
            utterances=by_id.get(row[0], []),
        )
        for row in convs
    ]


def query(db_path: str | Path, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple]]:
    """Run a read-only query; returns column names and rows."""
    return run_queries(db_path, [(sql, params)])[0]


def run_queries(db_path: str | Path, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[tuple[list[str], list]]:
    """Run read-only queries on one connection (one consistent view of the file); column names and rows of each.

    On a DuckLake the reads see one snapshot and are tried again while the catalog is briefly unreachable.
    """

    def read() -> list[tuple[list[str], list]]:
        out = []
        with connect(db_path, read_only=True) as con:
            for sql, params in statements:
                cur = con.execute(sql, list(params))
                out.append(([d[0] for d in cur.description] if cur.description else [], cur.fetchall()))
        return out

    if not lake.is_lake(db_path):
        return read()
    return _lake_retry(_lake_location(db_path), time.monotonic() + min(LOCK_RETRY_S, lake.retry_seconds()), read)


VERDICTS = ("confirmed", "false_positive", "disputed")


@dataclass(frozen=True)
class Review:
    """A supervisor's verdict on one finding (``finding_key``) or on a whole conversation (no key)."""

    conversation_id: str
    verdict: str
    reviewer: str
    finding_key: str | None = None
    comment: str | None = None


def add_review(db_path: str | Path, review: Review) -> str:
    """Record a verdict (history is kept; the latest one is in force); returns the new review id.

    The conversation (and the finding, when a key is given) must exist in the current results.
    """
    if review.verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {review.verdict!r}")
    if not review.reviewer.strip():
        raise ValueError("reviewer is required")
    if not exists(db_path):
        raise StoreNotFound(f"{display_name(db_path)}: database not found (run `qa run` first)")
    review_id = str(uuid.uuid4())
    created = _now()

    def body(con: duckdb.DuckDBPyConnection) -> None:
        if review.finding_key is None:
            found = con.execute("SELECT NULL FROM latest_scores WHERE conversation_id = ?",
                                [review.conversation_id]).fetchone()
        else:
            found = con.execute("SELECT rule_id FROM latest_findings WHERE conversation_id = ? AND finding_key = ?",
                                [review.conversation_id, review.finding_key]).fetchone()
        if found is None:
            what = f"finding {review.finding_key}" if review.finding_key else "conversation"
            raise LookupError(f"{review.conversation_id}: {what} not found")
        con.execute("DELETE FROM reviews WHERE review_id = ?", [review_id])  # a retried commit: no second row
        con.execute(
            "INSERT INTO reviews (review_id, conversation_id, finding_key, rule_id, verdict, comment, reviewer, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [review_id, review.conversation_id, review.finding_key, found[0], review.verdict,
             (review.comment or "").strip() or None, review.reviewer.strip(), created],
        )
        if review.finding_key is not None:
            _set_verdict(con, review.conversation_id, review.finding_key, review.verdict)

    write_transaction(db_path, body)
    return review_id
