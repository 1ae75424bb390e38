"""The store stage: where scored conversations, reviews and accounts are kept, and read back.

:func:`open_store` turns a location (``--db``, ``QA_DB``, qa.toml's ``db``) into a :class:`Store` once per process:
a :class:`~qa.store.file.FileStore` for a DuckDB file, a :class:`~qa.store.lake_store.LakeStore` for a
``ducklake:postgres:…`` setting. Everything else takes that object: the flows' writes, the read side
(:mod:`qa.store.queries`), rescore pages (:mod:`qa.store.rescore`) and retention (:mod:`qa.store.retention`).
"""

from __future__ import annotations

from pathlib import Path

from qa.store.base import VERDICTS, Review, RunCounts, RunInfo, Store, StoreError, StoreNotFound
from qa.store.file import FileStore
from qa.store.lake import is_lake
from qa.store.lake_store import LakeStore, open_lake


def open_store(location: str | Path | Store) -> Store:
    """The store a location names: a DuckLake for ``ducklake:…``, else a DuckDB file (a store is returned as it
    is). A bad lake setting is a :class:`StoreError` naming it."""
    if isinstance(location, Store):
        return location
    if is_lake(location):
        return open_lake(str(location))
    return FileStore(Path(location))


__all__ = ["VERDICTS", "FileStore", "LakeStore", "Review", "RunCounts", "RunInfo", "Store", "StoreError",
           "StoreNotFound", "open_store"]
