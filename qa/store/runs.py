"""The store side of run bookkeeping: which process runs a run (so the next start can tell a killed run from a live
one), runs left ``running``, and where stored conversations came from (ids claimed by other files, files that moved).

The decisions (is that process alive? did the file move?) are made by :mod:`qa.run.bookkeeping`; this module only
reads and writes the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from qa.store.base import Store
from qa.store.process import ProcessIdentity, process_start

__all__ = ["INTERRUPTED", "ProcessIdentity", "RunningRun", "mark_interrupted", "move_sources", "process_start",
           "running_runs", "stored_by_hash", "stored_sources"]

INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class RunningRun:
    """A run recorded as ``running``: who runs it and when it last wrote."""

    run_id: str
    kind: str
    started_at: datetime
    host: str | None
    pid: int | None
    pid_started: str | None
    heartbeat_at: datetime | None

    @property
    def last_sign_of_life(self) -> datetime:
        return max(self.started_at, self.heartbeat_at or self.started_at)


def running_runs(store: Store) -> list[RunningRun]:
    """Every run recorded as ``running`` (empty when nothing is stored yet)."""
    if not store.exists():
        return []
    _, rows = store.query("SELECT run_id, kind, started_at, host, pid, pid_started, heartbeat_at FROM runs "
                          "WHERE status = 'running' ORDER BY started_at")
    return [RunningRun(*row) for row in rows]


def mark_interrupted(store: Store, run_ids: Sequence[str], reason: str) -> None:
    """Record runs that are no longer running (their process is gone) as ``interrupted``, with the reason."""
    if not run_ids:
        return
    now = datetime.now(UTC)
    store.write_transaction(lambda con: con.execute(
        "UPDATE runs SET status = ?, ended_at = coalesce(heartbeat_at, started_at), "
        "settings = json_merge_patch(coalesce(settings, '{}'), json_object('interrupted', ?, 'noticed_at', ?)) "
        "WHERE status = 'running' AND run_id IN (SELECT unnest(?::VARCHAR[]))",
        [INTERRUPTED, reason, now.isoformat(), list(run_ids)]))


def stored_sources(store: Store, conversation_ids: Sequence[str]) -> dict[str, str]:
    """The stored source path of each of ``conversation_ids`` that is stored (on a DuckLake, tried again while the
    catalog is briefly unreachable, as a write is)."""
    if not conversation_ids or not store.exists():
        return {}
    [(_columns, rows)] = store.run_queries([(
        "SELECT conversation_id, source_path FROM conversations "
        "WHERE conversation_id IN (SELECT unnest(?::VARCHAR[]))", [list(conversation_ids)])])
    return dict(rows)


def stored_by_hash(store: Store, hashes: Sequence[str]) -> list[tuple[str, str, str]]:
    """``(conversation_id, content_sha256, source_path)`` of the stored conversations with these content hashes."""
    if not hashes or not store.exists():
        return []
    with store.connect(read_only=True) as con:
        con.register("_wanted_hashes", pa.table({"content_sha256": list(hashes)}))
        try:
            return [tuple(r) for r in con.execute(
                "SELECT conversation_id, content_sha256, source_path FROM conversations WHERE purged_at IS NULL AND "
                "content_sha256 IN (SELECT content_sha256 FROM _wanted_hashes)").fetchall()]
        finally:
            con.unregister("_wanted_hashes")


def move_sources(store: Store, moves: Sequence[tuple[str, str]]) -> None:
    """Point stored conversations at where their file is now: ``(conversation_id, new source_path)`` pairs."""
    if not moves:
        return

    def body(con: Any) -> None:
        con.register("_moves", pa.table({"conversation_id": [m[0] for m in moves],
                                         "source_path": [m[1] for m in moves]}))
        try:
            con.execute("UPDATE conversations SET source_path = m.source_path FROM _moves m "
                        "WHERE conversations.conversation_id = m.conversation_id")
        finally:
            con.unregister("_moves")

    store.write_transaction(body)
