"""Store upkeep (``qa compact``): a DuckLake's small files merged, its old snapshots expired and the files nothing
refers to any more deleted.

Every chunk a night writes into a DuckLake adds one Parquet file per table it touches (small writes are kept in the
catalog itself, inlined, until flushed), so reads open more files night after night and a search slows down.
Compaction, in DuckLake's own maintenance calls, each its own transaction (DuckLake refuses a transaction that both
changes rows and compacts, so this takes no write token; a writer racing it is DuckLake's to order):

1. ``ducklake_flush_inlined_data``: rows kept in the catalog written out to Parquet;
2. ``ducklake_merge_adjacent_files``: each table's small files merged into files of the lake's target size, in the
   table's sort order when it has one (readers of older snapshots still read what they read);
3. ``ducklake_expire_snapshots``: snapshots older than ``keep`` forgotten (no time travel past them); the files only
   they used are scheduled for deletion;
4. ``ducklake_cleanup_old_files``: files scheduled for deletion more than ``grace`` ago deleted from the data
   folder (a read still running on an old snapshot keeps its files for that long).

A DuckDB file needs none of this (it is one file whose free blocks are reused); it is checkpointed.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import timedelta

from qa.store.base import Store

KEEP_SNAPSHOTS = timedelta(days=1)
GRACE = timedelta(hours=1)

_SPAN = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_span(value: str) -> timedelta:
    """``30m``, ``1h``, ``2d``, ``1w`` or ``0`` as a :class:`timedelta`; ``ValueError`` naming the value otherwise."""
    if value.strip() == "0":
        return timedelta(0)
    match = _SPAN.match(value)
    if not match:
        raise ValueError(f"{value!r}: expected a span like 30m, 1h, 2d or 1w (or 0)")
    return int(match.group(1)) * _UNITS[match.group(2)]


_LIVE_FILES = ("SELECT (SELECT count(*) FROM __ducklake_metadata_{alias}.ducklake_data_file WHERE end_snapshot IS NULL)"
               " + (SELECT count(*) FROM __ducklake_metadata_{alias}.ducklake_delete_file WHERE end_snapshot IS NULL)")


@dataclass(frozen=True)
class Compaction:
    """What one compaction did: files in use (data and delete files) before and after, snapshots expired, files
    deleted from the data folder."""

    store_kind: str  # "ducklake" or "duckdb"
    files_before: int
    files_after: int
    snapshots_expired: int
    files_deleted: int
    seconds: float


def compact(store: Store, keep: timedelta = KEEP_SNAPSHOTS, grace: timedelta = GRACE) -> Compaction:
    """Compact ``store`` (see the module's text); ``keep``: how long snapshots are kept, ``grace``: how long a
    file nothing refers to is kept before it is deleted."""
    if keep < timedelta(0) or grace < timedelta(0):
        raise ValueError("keep and grace must not be negative")
    start = time.perf_counter()
    if not store.is_lake:
        with store.connect() as con:
            con.execute("CHECKPOINT")
        return Compaction("duckdb", 1, 1, 0, 0, time.perf_counter() - start)
    from qa.store.lake import CATALOG_ALIAS

    alias = CATALOG_ALIAS
    with store.connect() as con:
        live = _LIVE_FILES.format(alias=alias)
        before = int(con.execute(live).fetchone()[0])
        con.execute(f"CALL ducklake_flush_inlined_data('{alias}')")
        con.execute(f"CALL ducklake_merge_adjacent_files('{alias}')")
        # each call its own transaction: now() is the moment it starts (files merged away just now included)
        expired = con.execute(f"CALL ducklake_expire_snapshots('{alias}', older_than => now() - to_microseconds(?))",
                              [_micros(keep)]).fetchall()
        deleted = con.execute(f"CALL ducklake_cleanup_old_files('{alias}', older_than => now() - to_microseconds(?))",
                              [_micros(grace)]).fetchall()
        after = int(con.execute(live).fetchone()[0])
    return Compaction("ducklake", before, after, len(expired), len(deleted), time.perf_counter() - start)


def _micros(span: timedelta) -> int:
    return span // timedelta(microseconds=1)
