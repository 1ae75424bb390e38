"""Chunks of the nightly flow: calls by --chunk-size, chats and transcripts by their own larger size."""

from __future__ import annotations

import pytest

from qa.inbox.inputs import InboxItem
from qa.run.pipeline import chunk_sizes, plan_chunks


def _items(kinds: str) -> list[InboxItem]:
    names = {"c": "call", "t": "chat", "x": "transcript", "u": "unknown"}
    return [InboxItem(f"{i}-{k}", names[k], f"sha{i}") for i, k in enumerate(kinds)]


def _shape(chunks: list[list[InboxItem]]) -> list[str]:
    return ["".join(item.path.split("-")[1] for item in chunk) for chunk in chunks]


@pytest.mark.parametrize(("chunk_size", "text_chunk_size", "sizes"), [
    (None, None, (4, 100)),  # the defaults: four calls, a hundred chats or transcripts
    (2, None, (2, 2)),  # an explicit --chunk-size counts for every kind, as it always did
    (2, 50, (2, 50)),
    (None, 7, (4, 7)),
])
def test_chunk_sizes(chunk_size, text_chunk_size, sizes):
    assert chunk_sizes(chunk_size, text_chunk_size) == sizes


def test_a_chunk_size_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        chunk_sizes(0, -1)


@pytest.mark.parametrize(("kinds", "chunk_size", "text_chunk_size", "shape"), [
    ("cccccc", None, None, ["cccc", "cc"]),
    ("tttttt", None, None, ["tttttt"]),
    ("ctctctct", None, 3, ["ttt", "cccc", "t"]),  # each kind fills its own chunk; a full one goes out at once
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
