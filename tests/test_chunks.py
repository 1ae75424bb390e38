"""Chunks of the nightly flow: calls by --chunk-size, chats and transcripts by their own larger size, and the order
they are handed out in."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.inbox.inputs import InboxItem
from qa.run.pipeline import calls_per_chunk, chunk_sizes, longest_first, plan_chunks


def _items(kinds: str) -> list[InboxItem]:
    names = {"c": "call", "t": "chat", "x": "transcript", "u": "unknown"}
    return [InboxItem(f"{i}-{k}", names[k], f"sha{i}") for i, k in enumerate(kinds)]


def _shape(chunks: list[list[InboxItem]]) -> list[str]:
    return ["".join(item.path.split("-")[1] for item in chunk) for chunk in chunks]


@pytest.mark.parametrize(("chunk_size", "text_chunk_size", "distributed", "sizes"), [
    (None, None, False, (4, 100)),  # the defaults: four calls (side by side), a hundred chats or transcripts
    (None, None, True, (4, 250)),  # on Dask a task's bookkeeping costs more: bigger text chunks
    (2, None, False, (2, 2)),  # an explicit --chunk-size counts for every kind, as it always did
    (2, None, True, (2, 2)),
    (2, 50, True, (2, 50)),
    (None, 7, False, (4, 7)),
])
def test_chunk_sizes(chunk_size, text_chunk_size, distributed, sizes):
    assert chunk_sizes(chunk_size, text_chunk_size, distributed) == sizes


def test_a_chunk_size_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        chunk_sizes(0, -1)


@pytest.mark.parametrize(("kinds", "chunk_size", "text_chunk_size", "shape"), [
    ("cccccc", None, None, ["cccc", "cc"]),  # never one task per conversation
    ("cccccc", 4, None, ["cccc", "cc"]),
    ("tttttt", None, None, ["tttttt"]),
    ("ctctctct", 4, 3, ["ttt", "cccc", "t"]),  # each kind fills its own chunk; a full one goes out at once
    ("cxtucc", 2, None, ["xt", "cc", "c", "u"]),  # transcripts and unknown files travel with the chats
    ("", None, None, []),
])
def test_calls_and_text_inputs_fill_chunks_of_their_own(kinds, chunk_size, text_chunk_size, shape):
    chunks = plan_chunks(_items(kinds), chunk_size, text_chunk_size)
    assert _shape(chunks) == shape
    assert sorted(i.path for c in chunks for i in c) == sorted(i.path for i in _items(kinds))  # each item once


def test_250_chats_and_9_calls_make_three_text_chunks_and_three_call_chunks():
    chunks = plan_chunks(_items("t" * 250 + "c" * 9))
    assert [len(c) for c in chunks] == [100, 100, 4, 4, 1, 50]


def test_calls_go_out_first_the_longest_first_then_the_text_chunks(tmp_path):
    """Longest processing time first: the last chunks a worker takes are the short ones, so none waits alone at the
    end behind a long call. File size stands for length; a vanished file sorts last among the calls."""
    sizes = {"a": 10, "b": 3000, "c": 700}
    items = [InboxItem(str(tmp_path / "chat.chat.json"), "chat", "shat")]
    for name, size in sizes.items():
        (tmp_path / f"{name}.wav").write_bytes(b"\0" * size)
        items.append(InboxItem(str(tmp_path / f"{name}.wav"), "call", f"sha-{name}"))
    items.append(InboxItem(str(tmp_path / "gone.wav"), "call", "sha-gone"))
    ordered = longest_first(plan_chunks(items, 1, 100))
    assert [Path(c[0].path).name.split(".")[0] for c in ordered] == ["b", "c", "a", "gone", "chat"]


@pytest.mark.parametrize(("message", "lost"), [
    ("scheduler-connection-lost", True),
    ("lost the connection to the scheduler", True),
    ("CommClosedError: in <TCP (closed) ConnectionPool.gather local=tcp://127.0.0.1:40376 "
     "remote=tcp://127.0.0.1:51033>: ConnectionResetError: [Errno 104] Connection reset by peer", True),
    ("ValueError: copy_001.chat.json: no turns", False),
    ("KilledWorker: attempted to run task process-chunk-1 on 3 different workers", False),
])
def test_a_result_lost_with_the_scheduler_is_no_inputs_fault(message, lost):
    from qa.run.cluster import scheduler_lost

    assert scheduler_lost(RuntimeError(message)) is lost


def test_a_chunks_calls_are_transcribed_side_by_side_in_order(monkeypatch):
    """Four calls to a chunk (one task, never one per call), yet as many transcribed at once as the process
    transcribes: the last chunk of a night keeps both cores busy. Results keep the chunk's order."""
    import threading
    import time

    from qa.records import Conversation, Utterance
    from qa.run import pipeline

    at_once, lock, busy = [], threading.Lock(), [0]

    def fake_load(item, settings):
        with lock:
            busy[0] += 1
            at_once.append(busy[0])
        time.sleep(0.2)
        with lock:
            busy[0] -= 1
        return Conversation(conversation_id=item.path, channel="call", source_path=item.path,
                            content_sha256=item.content_sha256,
                            utterances=[Utterance(speaker="operator", start=0.0, end=1.0, text="Здравствуйте")])

    monkeypatch.setattr(pipeline, "load_conversation", fake_load)
    items = _items("cccc")
    two = pipeline.PipelineSettings(rules_dir="scripts_rules", transcriptions=2)
    out = pipeline.prepare_chunk(items, two)
    assert [c.conversation_id for c in out] == [i.path for i in items]
    assert max(at_once) == 2
    at_once.clear()
    pipeline.prepare_chunk(items, pipeline.PipelineSettings(rules_dir="scripts_rules", transcriptions=1))
    assert max(at_once) == 1


@pytest.mark.parametrize("calls_per, calls, threads, expected", [
    (4, 8, None, 4),  # not on a cluster: as set
    (4, 100, 2, 4),  # a night with calls enough: 4 per chunk
    (4, 8, 4, 2),  # 8 calls on 4 worker threads: 2 per chunk, every thread busy
    (4, 6, 4, 2),
    (4, 3, 4, 1),  # fewer calls than threads: one each
    (4, 0, 4, 4),  # no calls: nothing to cut
    (2, 40, 16, 2),  # never more than asked for
])
def test_a_small_night_on_a_cluster_is_cut_so_every_worker_thread_gets_calls(calls_per, calls, threads, expected):
    assert calls_per_chunk(calls_per, calls, threads) == expected
