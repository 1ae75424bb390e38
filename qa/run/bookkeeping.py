"""The nightly run's bookkeeping around the chunks (the flow only wires it): what the inbox holds and what of it is
new, runs left ``running`` by a killed process, files that moved since they were stored, and conversation ids two
files claim.

Nothing here is silent: a path skipped, a file that cannot be read, one still being copied, a moved file and a
refused duplicate id each end up in the run summary (and, for failures, in ``failures``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from qa.errors import QAInputError
from qa.inbox.inputs import InboxItem, InboxScan, scan_inbox
from qa.records import Failure, ScoredConversation
from qa.run.pipeline import plan_items, source_items
from qa.store import Store
from qa.store import runs as run_rows

# A run recorded by another host is taken for dead when it has not written for this long (its process cannot be
# asked); one of this host is dead as soon as its process is gone.
OTHER_HOST_SILENCE = timedelta(hours=6)


@dataclass
class Discovery:
    """What the inbox holds for this run: ``new`` items to process, ``stored`` ones already stored (or failed as
    bad files) with the same content, ``failures`` for files that cannot be read, ``notes`` naming every path
    skipped and ``waiting`` the files still changing (left for the next run), ``moved`` stored conversations
    whose file was found under a new path; ``sources``: each PBX source's report."""

    new: list[InboxItem] = field(default_factory=list)
    stored: list[InboxItem] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)


def discover(inbox: str | Path | None, store: Store, settle_s: float,
             sources: Sequence[dict[str, Any]] = ()) -> Discovery:
    """Scan the inbox (files changed within ``settle_s`` wait; the PBX sources' folders and files inside it left
    out) and the PBX ``sources``, split new items from stored ones, and point stored conversations whose file was
    renamed or moved at its new path."""
    calls, reports, exclude = source_items(sources)
    scan = scan_inbox(inbox, settle_s, exclude=exclude) if inbox else InboxScan()
    new, stored = plan_items(scan.items + calls, store.stored_hashes() | store.permanently_failed_hashes())
    found = Discovery(new=new, stored=stored, notes=[str(s) for s in scan.skipped],
                      waiting=[str(s) for s in scan.waiting], sources=reports)
    found.failures = [Failure(s.path, "read", str(s), None) for s in scan.unreadable]
    found.moved = relocate_moved(store, stored)
    return found


def relocate_moved(store: Store, items: Sequence[InboxItem]) -> list[str]:
    """Stored conversations whose file is gone from its stored path but whose content was found at another path
    (renamed or moved): their ``source_path`` becomes the new one. Returns ``"old -> new"`` for each."""
    by_hash: dict[str, list[str]] = {}
    for item in items:
        by_hash.setdefault(item.content_sha256, []).append(item.path)
    moves, said = [], []
    for cid, sha, old in run_rows.stored_by_hash(store, list(by_hash)):
        paths = by_hash.get(sha, [])
        if not paths or old in paths or Path(old).exists():
            continue  # still where it was (a copy elsewhere is a copy, not a move)
        moves.append((cid, paths[0]))
        said.append(f"{old} -> {paths[0]}")
    run_rows.move_sources(store, moves)
    return said


def mark_interrupted_runs(store: Store) -> list[str]:
    """Runs still recorded as ``running`` whose process is gone (killed, a machine rebooted): marked
    ``interrupted``. Returns their ids. A run of this host is gone when its pid is not alive or is another process
    now; a run of another host when it has not written for :data:`OTHER_HOST_SILENCE`."""
    host = socket.gethostname()
    now = datetime.now(UTC)
    dead = []
    for run in run_rows.running_runs(store):
        if run.host == host and run.pid is not None:
            gone = not _alive(run.pid, run.pid_started)
        else:
            gone = now - run.last_sign_of_life > OTHER_HOST_SILENCE
        if gone:
            dead.append(run.run_id)
    run_rows.mark_interrupted(store, dead, "its process ended without finishing it (killed?); noticed by the next "
                                           "start")
    return dead


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive
    return started is None or run_rows.process_start(pid) in (None, started)


class IdClaims:
    """Which file each conversation id of a run came from: a second file with an id already taken (by another file
    in this run, or stored from another file that still exists) is refused with a failure naming both, instead of
    silently replacing the first."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.claimed: dict[str, str] = {}

    def refuse_duplicates(self, results: Sequence[ScoredConversation | Failure]) -> list[ScoredConversation | Failure]:
        """``results`` with every conversation whose id another file holds turned into a failure."""
        scored = [r for r in results if isinstance(r, ScoredConversation)]
        stored = run_rows.stored_sources(self.store, [s.conversation.conversation_id for s in scored])
        out: list[ScoredConversation | Failure] = []
        for result in results:
            if isinstance(result, Failure):
                out.append(result)
                continue
            conv = result.conversation
            cid, path = conv.conversation_id, conv.source_path
            holder = self.claimed.get(cid)
            where = "earlier in this run"
            if holder is None and stored.get(cid) not in (None, path) and Path(stored[cid]).exists():
                holder, where = stored[cid], "stored already"
            if holder is not None and holder != path:
                error = QAInputError(path, f"conversation id {cid!r} is taken by {holder} ({where}): two files "
                                           "cannot share an id, so this one is not stored; give it its own 'id'")
                out.append(Failure(path, "duplicate", str(error), conv.content_sha256))
                continue
            self.claimed[cid] = path
            out.append(result)
        return out
