"""How the read side scales: team-lead queries and review pages on a database of many conversations.

Run ``python benchmarks/bench_queries.py [--copies 3000]``. The seed is the database of the bundled samples
(``data/qa.duckdb`` from ``make demo``; made with the real flow into a temporary folder when absent). Its 7
conversations are copied N times with new ids, operators, teams and days over two months, in SQL, so the
copies keep real utterances, findings and scores. Each query is timed as the median of 5 runs, each run
opening the file read-only as the web page does per request.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from qa import queries, store  # noqa: E402
from qa.environment import apply_defaults  # noqa: E402

apply_defaults()

COPY_SQL = {
    "conversations": """
        INSERT INTO conversations
        SELECT c.conversation_id || '-' || i, c.channel, c.source_path, c.content_sha256 || '-' || i,
               'op-' || lpad(((i * 7 + hash(c.conversation_id)) % 40)::VARCHAR, 2, '0'),
               'team-' || ((i * 7 + hash(c.conversation_id)) % 40 % 5)::VARCHAR,
               coalesce(c.started_at, TIMESTAMPTZ '2026-11-27 10:00:00+00') - to_days((i % 60)::INTEGER),
               c.duration_s, c.speaker_mode, c.metadata, c.transcription, c.ingested_at, c.run_id
        FROM conversations c, range(1, ? + 1) t(i) WHERE c.conversation_id NOT LIKE '%-%-%'""",
    "utterances": """
        INSERT INTO utterances SELECT u.conversation_id || '-' || i, u.* EXCLUDE (conversation_id)
        FROM utterances u, range(1, ? + 1) t(i) WHERE u.conversation_id NOT LIKE '%-%-%'""",
    "findings": """
        INSERT INTO findings SELECT f.conversation_id || '-' || i, f.* EXCLUDE (conversation_id)
        FROM findings f, range(1, ? + 1) t(i) WHERE f.conversation_id NOT LIKE '%-%-%'""",
    "scores": """
        INSERT INTO scores SELECT s.conversation_id || '-' || i, s.* EXCLUDE (conversation_id)
        FROM scores s, range(1, ? + 1) t(i) WHERE s.conversation_id NOT LIKE '%-%-%'""",
}


def seed_database(work: Path) -> Path:
    """A copy of the samples' database (made by the real flow when ``data/qa.duckdb`` is absent)."""
    db = work / "qa.duckdb"
    seed = REPO_ROOT / "data" / "qa.duckdb"
    if seed.exists():
        shutil.copy(seed, db)
        return db
    from flows.nightly import nightly_qa

    nightly_qa(inbox=str(REPO_ROOT / "data" / "samples"), db=str(db), rules=str(REPO_ROOT / "scripts_rules"),
               cache_dir=str(REPO_ROOT / "data" / "cache" / "transcripts"))
    return db


def grow(db: Path, copies: int) -> dict[str, int]:
    """Copy every seed conversation ``copies`` times; returns the row counts."""
    with store.connect(db) as con:
        con.execute("BEGIN")
        for sql in COPY_SQL.values():
            con.execute(sql, [copies])
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COPY_SQL}


def timed(fn: Callable[[], object], runs: int = 5) -> float:
    """Median wall time of ``runs`` calls, in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=3000, help="copies of each seed conversation")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qa-bench-queries-"))
    try:
        db = seed_database(work)
        start = time.perf_counter()
        counts = grow(db, args.copies)
        grow_s = time.perf_counter() - start
        size_mb = os.path.getsize(db) / 2**20
        print(f"database: {counts['conversations']:,} conversations, {counts['utterances']:,} utterances, "
              f"{counts['findings']:,} findings; {size_mb:.0f} MiB; built in {grow_s:.1f} s")
        rule = "stop_word_dont_know"
        one = queries.conversations(db, queries.Filters(flagged=True), limit=1).rows[0][0]
        cases: list[tuple[str, Callable[[], object]]] = [
            ("flagged list, first page of 50", lambda: queries.conversations(db, queries.Filters(), limit=50)),
            ("flagged list, rule filter + date sort, page 10",
             lambda: queries.conversations(db, queries.Filters(rule=rule), sort="started_at", descending=True,
                                           limit=50, offset=450)),
            ("one conversation page (all its queries)", lambda: queries.conversation(db, one)),
            ("stats per operator", lambda: queries.stats(db, "operator")),
            ("stats per day", lambda: queries.stats(db, "day")),
            ("top rules", lambda: queries.rule_hits(db)),
            ("score histogram", lambda: queries.score_histogram(db)),
            ("rule precision", lambda: queries.rule_precision(db)),
            ("`qa flagged` (all flagged rows)", lambda: queries.flagged(db, queries.Filters(), limit=1000)),
            ("export pick: 20 findings of one rule", lambda: queries.findings(
                db, queries.Filters(flagged=None, rule=rule), limit=20)),
        ]
        try:
            from fastapi.testclient import TestClient  # the benchmark's own use; the package imports it once

            from qa.web.app import create_app

            client = TestClient(create_app(db, REPO_ROOT))
            cases += [
                ("web: GET / (list page)", lambda: client.get("/")),
                ("web: GET /conversations/ID", lambda: client.get(f"/conversations/{one}")),
                ("web: GET /dashboard", lambda: client.get("/dashboard")),
                ("web: GET /rules", lambda: client.get("/rules")),
            ]
        except ImportError as exc:  # pragma: no cover
            print(f"web pages skipped: {exc}")
        print("\n| query | median ms (5 runs) |\n|---|---|")
        for name, fn in cases:
            print(f"| {name} | {timed(fn):.0f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
