"""What one chunk's write costs, on an empty store and on a big one: the nightly chunk (calls, chats) and a rescore
page, each written the way the flows write them (the nightly flow: its id check and ``Store.write_results`` inside
``Store.night_writes``; a rescore: ``rescore.record_chunk`` on a held connection).

The chunks are real scored conversations: the bundled sample calls (transcribed once into ``cache_dir``) and sample
chats, each copy with an id of its own that the store has not seen, so every timed write stores new conversations
as a night does. A rescore page is the page of stored conversations a rescore would read next, scored again under
a new rule set version.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from qa.records import ScoredConversation  # noqa: E402
from qa.store import Store  # noqa: E402

SAMPLES = REPO_ROOT / "data" / "samples"
RULES = REPO_ROOT / "scripts_rules"


def sample_scored(cache_dir: Path) -> tuple[list[ScoredConversation], list[ScoredConversation]]:
    """The sample calls and the sample chats, scored (calls transcribed once into ``cache_dir``)."""
    from qa.inbox.inputs import discover_inbox
    from qa.run import pipeline

    settings = pipeline.PipelineSettings(rules_dir=str(RULES), cache_dir=str(cache_dir))
    items = discover_inbox(str(SAMPLES))
    results = pipeline.process_chunk([i for i in items if i.kind in ("call", "chat")], settings)
    scored = [r for r in results if isinstance(r, ScoredConversation)]
    return ([s for s in scored if s.conversation.channel == "call"],
            [s for s in scored if s.conversation.channel == "chat"])


def copies(scored: list[ScoredConversation], n: int, prefix: str) -> list[ScoredConversation]:
    """``n`` copies of the scored conversations in turn, each with a new id (and content hash) under ``prefix``."""
    out = []
    for i in range(n):
        s = scored[i % len(scored)]
        cid = f"{prefix}-{i:05d}"
        conv = dataclasses.replace(s.conversation, conversation_id=cid, content_sha256=f"{cid}-sha",
                                   source_path=f"{s.conversation.source_path}#{cid}")
        out.append(dataclasses.replace(s, conversation=conv))
    return out


@dataclasses.dataclass
class Night:
    """Timings of one night's chunk writes: seconds per chunk, and the night's closing checkpoint."""

    chunks: list[float]
    closing: float


def time_night(store: Store, chunk_of: callable, chunks: int, label: str, pause_s: float = 0.0) -> Night:
    """A night of ``chunks`` fresh chunks (``chunk_of(prefix)``) stored as the nightly flow stores each: the ids
    checked against the store (:class:`qa.run.bookkeeping.IdClaims`), then :meth:`~qa.store.Store.write_results`,
    all inside :meth:`~qa.store.Store.night_writes`. ``pause_s`` between chunks stands for the time a chunk takes
    to transcribe (past ``NIGHT_IDLE_S`` the file is closed, and reopened for the next write); any checkpoint
    DuckDB makes when its log fills falls on the chunk that triggered it. ``closing``: the block's end (a file's
    checkpoint of what the night left in its log)."""
    from qa.run.bookkeeping import IdClaims

    out = []
    claims = IdClaims(store)
    with store.night_writes():
        for r in range(chunks):
            chunk = chunk_of(f"{label}-{time.time_ns()}-{r}")
            if pause_s:
                time.sleep(pause_s)
            start = time.perf_counter()
            store.write_results(f"bench-write-{label}", claims.refuse_duplicates(chunk))
            out.append(time.perf_counter() - start)
        start = time.perf_counter()
    return Night(out, time.perf_counter() - start)


def time_rescore_write(store: Store, rules_dir: Path, page_size: int, repeats: int, held: int = 4) -> list[float]:
    """Seconds per page of ``repeats`` rescore page writes as the rescore flow writes them: the scores and findings
    of a new rule set version, the progress row (:func:`qa.store.rescore.record_chunk`), ``held`` consecutive
    pages on one held writer connection (:meth:`~qa.store.base.Store.hold`; its release, with a DuckDB file's
    checkpoint, counted), each run from a point that moves through the store."""
    from qa.run import pipeline
    from qa.store import rescore

    scorer = pipeline.get_scorer(rules_dir)
    total = rescore.count_after(store, None)
    with store.connect(read_only=True) as con:
        step = max(1, total // (repeats + 1))
        last_start = max(0, total - held * page_size - 1)  # room for ``held`` whole pages after it
        starts = [con.execute("SELECT conversation_id FROM conversations WHERE purged_at IS NULL ORDER BY "
                              "conversation_id LIMIT 1 OFFSET ?", [min(step * (k + 1), last_start)]).fetchone()[0]
                  for k in range(repeats)]
    out = []
    for after in starts:
        version = f"bench-{time.time_ns()}"
        pages = []
        for _ in range(held):
            page = rescore.read_page(store, after, page_size)
            scored = [dataclasses.replace(scorer.score(c), ruleset_version=version) for c in page.records()]
            ids = page.ids()
            pages.append((rescore.ChunkProgress("bench-rescore", version, ids[-1], len(scored), 0, 0, 0), scored))
            after = ids[-1]
        start = time.perf_counter()
        with store.hold():
            for progress, scored in pages:
                rescore.record_chunk(store, progress, scored=scored)
        out.append((time.perf_counter() - start) / held)
    return out


def summary(seconds: list[float], mean: bool = False) -> str:
    """Median (or mean) and range of some timings, in milliseconds."""
    ms = sorted(s * 1000 for s in seconds)
    centre = f"mean {statistics.mean(ms):.0f}" if mean else f"{statistics.median(ms):.0f}"
    return f"{centre} ms (range {ms[0]:.0f}–{ms[-1]:.0f}, {len(ms)} runs)"


def as_json(figures: dict) -> str:
    """Figures as one JSON line (for a parent process)."""
    return json.dumps(figures)
