"""A night's writes to a DuckDB file (``Store.night_writes``, as the nightly flow wraps its chunks): commits stay
in the write-ahead log instead of a checkpoint per chunk, readers in other processes see them and get the file
between chunks, a failed chunk leaves nothing, and the night's end folds the log into the file so that the file
alone holds everything. Through a real DuckDB file and a real second process."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_store_writes import counts, current_equals_rebuild, duplicates, scored

from qa.store import base, open_store
from qa.store import file as file_store
from qa.store import runs as run_rows

READER = """
import sys, time, duckdb
deadline = time.monotonic() + 60
while True:
    try:
        con = duckdb.connect(sys.argv[1], read_only=True)
        break
    except duckdb.Error:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.1)
print(con.execute("SELECT count(*) FROM conversations").fetchone()[0])
"""


def read_elsewhere(db: Path) -> int:
    """Conversations counted by a reader in another process (it retries while a writer holds the file)."""
    done = subprocess.run([sys.executable, "-c", READER, str(db)], capture_output=True, text=True, check=True,
                          timeout=120)
    return int(done.stdout)


def wal(db: Path) -> int:
    log = Path(f"{db}.wal")
    return log.stat().st_size if log.exists() else 0


def wait_for(condition, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_nights_chunks_stay_in_the_log_readers_see_them_and_the_end_folds_them_into_the_file(tmp_path):
    db = tmp_path / "qa.duckdb"
    store = open_store(db)
    store.write_results("run-0", [scored("c-000")])  # an existing store: outside a night, each close checkpoints
    assert wal(db) == 0
    key = str(db.resolve())
    with store.night_writes():
        store.write_results("run-1", [scored(f"c-{i:03d}") for i in range(1, 4)])
        store.write_results("run-1", [scored(f"c-{i:03d}") for i in range(4, 6)])
        assert wal(db) > 0  # committed, not checkpointed
        assert wait_for(lambda: file_store._HELD[key].con is None)  # closed once idle: readers get their turn
        assert read_elsewhere(db) == 6  # another process reads the log's rows
        store.write_results("run-1", [scored("c-006")])  # reopened for the next chunk
    assert wal(db) == 0 and key not in file_store._HELD
    alone = tmp_path / "copy.duckdb"  # a copy of the file without its log has everything
    shutil.copy(db, alone)
    assert counts(alone) == counts(db) == {"conversations": 7, "utterances": 14, "findings": 7, "scores": 7}
    assert current_equals_rebuild(db) and not any(duplicates(db).values())


def test_a_chunk_that_fails_in_a_night_leaves_nothing_and_the_night_goes_on(tmp_path, monkeypatch):
    db = tmp_path / "qa.duckdb"
    store = open_store(db)
    with store.night_writes():
        store.write_results("run-1", [scored("c-001")])
        real = base.index_conversations

        def broken(*args, **kwargs):  # fails after the chunk's rows were inserted in its transaction
            raise RuntimeError("disk full")

        monkeypatch.setattr(base, "index_conversations", broken)
        with pytest.raises(RuntimeError, match="disk full"):
            store.write_results("run-1", [scored("c-002"), scored("c-003")])
        monkeypatch.setattr(base, "index_conversations", real)
        assert counts(db)["conversations"] == 1
        store.write_results("run-1", [scored("c-004")])
    assert counts(db) == {"conversations": 2, "utterances": 4, "findings": 2, "scores": 2}
    assert current_equals_rebuild(db) and read_elsewhere(db) == 2


def test_a_night_that_ends_in_an_error_still_folds_its_log_in_and_raises_its_own_error(tmp_path):
    db = tmp_path / "qa.duckdb"
    store = open_store(db)
    with pytest.raises(KeyboardInterrupt), store.night_writes():
        store.write_results("run-1", [scored("c-001")])
        assert wal(db) > 0
        raise KeyboardInterrupt
    assert wal(db) == 0 and str(db.resolve()) not in file_store._DEFERRING
    assert read_elsewhere(db) == 1


def test_chunks_that_follow_each_other_share_one_writer_connection(tmp_path, monkeypatch):
    db = tmp_path / "qa.duckdb"
    store = open_store(db)
    store.write_results("run-0", [scored("c-000")])
    opened = []
    real_open = file_store._open
    monkeypatch.setattr(file_store, "_open", lambda *a: opened.append(a[1]) or real_open(*a))
    monkeypatch.setattr(file_store, "NIGHT_IDLE_S", 600.0)  # a loaded machine's pause must not close it here
    with store.night_writes():
        for i in range(1, 4):  # each chunk: its ids checked (a read), then written
            assert run_rows.stored_sources(store, [f"c-{i:03d}"]) == {}
            store.write_results("run-1", [scored(f"c-{i:03d}")])
    assert opened == [False]  # one writer for the whole night (its closing checkpoint too): no open per chunk
    assert counts(db)["conversations"] == 4 and wal(db) == 0


def test_a_runs_heartbeat_is_written_at_most_once_a_minute(tmp_path):
    db = tmp_path / "qa.duckdb"
    store = open_store(db)
    store.start_run(base.RunInfo(run_id="run-1"))
    store.write_results("run-1", [scored("c-001")])
    [(first,)] = store.query("SELECT heartbeat_at FROM runs")[1]
    store.write_results("run-1", [scored("c-002")])
    assert store.query("SELECT heartbeat_at FROM runs")[1] == [(first,)]  # within the minute: no rewrite of runs
    store.write_transaction(lambda con: con.execute("UPDATE runs SET heartbeat_at = heartbeat_at - INTERVAL 2 MINUTE"))
    base._BEATEN["run-1"] -= 2 * base.HEARTBEAT_EVERY  # as if two minutes had passed
    store.write_results("run-1", [scored("c-003")])
    [(later,)] = store.query("SELECT heartbeat_at FROM runs")[1]
    assert later > first
