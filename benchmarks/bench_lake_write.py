"""Write throughput of the two store kinds: a bulk write of N scored conversations, in chunks as the nightly flow
writes them, into a DuckDB file and into a DuckLake (a throwaway PostgreSQL catalog and a local data folder).

Run ``python benchmarks/bench_lake_write.py [--conversations 2000] [--chunk 50]`` (``make bench-lake``). The
conversations are the bundled sample chats, really parsed, lemmatised and scored once, then copied with new ids.
Prints conversations/s of each kind and the ratio; never asserts a time.

Each kind is also written once without the search index (``qa.store.search_index.index_conversations`` replaced by a
no-op for that run, in a store of its own), which prints what keeping the index at write time costs.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from qa.inbox.inputs import discover_inbox  # noqa: E402
from qa.records import ScoredConversation  # noqa: E402
from qa.run import pipeline  # noqa: E402
from qa.run.environment import apply_defaults  # noqa: E402
from qa.store import RunInfo, open_store  # noqa: E402
from qa.store.lake_store import close_lakes  # noqa: E402
from tools.pg_throwaway import ThrowawayPostgres  # noqa: E402

apply_defaults()


def sample_scored() -> list[ScoredConversation]:
    """The sample chats and transcripts, scored by the real pipeline (no audio: nothing to transcribe)."""
    settings = pipeline.PipelineSettings(rules_dir=str(REPO_ROOT / "scripts_rules"))
    items = [i for i in discover_inbox(str(REPO_ROOT / "data" / "samples")) if i.kind != "call"]
    results = pipeline.score_chunk(pipeline.prepare_chunk(items, settings), settings)
    return [r for r in results if isinstance(r, ScoredConversation)]


def copies(seed: list[ScoredConversation], n: int) -> list[ScoredConversation]:
    out = []
    for i in range(n):
        s = seed[i % len(seed)]
        conv = dataclasses.replace(s.conversation, conversation_id=f"{s.conversation.conversation_id}-{i}",
                                   content_sha256=f"{s.conversation.content_sha256}-{i}")
        out.append(dataclasses.replace(s, conversation=conv))
    return out


def write_all(db: str, scored: list[ScoredConversation], chunk: int) -> float:
    """Seconds to write ``scored`` in chunks of ``chunk`` (the store already created)."""
    store = open_store(db)
    began = time.perf_counter()
    for start in range(0, len(scored), chunk):
        store.write_results("bench", scored[start:start + chunk])
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=50, help="conversations per write transaction")
    args = parser.parse_args()
    scored = copies(sample_scored(), args.conversations)
    from qa.store import base

    indexed = base.index_conversations
    with tempfile.TemporaryDirectory(prefix="qa-bench-lake-") as work, ThrowawayPostgres() as pg:
        kinds = {"duckdb file": str(Path(work) / "qa.duckdb"),
                 "ducklake": f"ducklake:postgres:{pg.conninfo}?data={Path(work) / 'lake'}"}
        unindexed = {"duckdb file": str(Path(work) / "plain.duckdb"),
                     "ducklake": f"ducklake:postgres:{pg.create_database('plain')}?data={Path(work) / 'plain'}"}
        seconds, plain = {}, {}
        for name, db in kinds.items():
            open_store(db).start_run(RunInfo(run_id="bench"))  # create and migrate outside the timing
            seconds[name] = write_all(db, scored, args.chunk)
            stored = open_store(db).query("SELECT count(*) FROM conversations")[1][0][0]
            assert stored == len(scored), (name, stored)
            open_store(unindexed[name]).start_run(RunInfo(run_id="bench"))
            base.index_conversations = lambda con, conversations: None  # type: ignore[assignment]
            try:
                plain[name] = write_all(unindexed[name], scored, args.chunk)
            finally:
                base.index_conversations = indexed
        close_lakes()
    rate = {name: len(scored) / s for name, s in seconds.items()}
    print(f"bulk write of {len(scored)} conversations in chunks of {args.chunk}:")
    for name in kinds:
        print(f"  {name:12} {seconds[name]:7.2f} s  {rate[name]:8.1f} conversations/s; without the search index "
              f"{plain[name]:.2f} s: indexing at write time takes {seconds[name] / plain[name]:.2f}x the time")
    print(f"  ducklake / duckdb file throughput: {rate['ducklake'] / rate['duckdb file']:.2f}")


if __name__ == "__main__":
    main()
