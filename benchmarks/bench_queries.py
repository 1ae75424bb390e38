"""How the read side scales: the team lead's queries on a large store, beside the old view-based reads.

``python benchmarks/bench_queries.py --conversations 1000000`` generates a store in SQL (see
``benchmarks/store_at_scale.py``: 20 teams, 400 operators, 365 days, 3 rule set versions, ~10 findings per
flagged conversation), builds its current results as migration 006 does, and times the team lead's queries
(flagged list of one team for 7 days with its total, per-operator daily stats for 30 days, rule hit counts, one
conversation's page): median and p95, each run opening the file read-only as the web page does per request,
beside the same questions asked the old way (window-function views, ``benchmarks/baseline_reads.py``) and their
ratio. ``--db PATH`` keeps the generated store there and reuses it on the next run.

``--copies N`` is the older mode: the bundled samples' database (``data/qa.duckdb`` from ``make demo``; made with
the real flow when absent) with its 7 conversations copied N times in SQL.

``--store ducklake`` times the same questions on a DuckLake copy of the generated file (a throwaway PostgreSQL
catalog and a Parquet data folder beside the file, ``benchmarks/store_kinds.py``); the old way is the file's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from qa.run.environment import apply_defaults  # noqa: E402
from qa.store import open_store, queries  # noqa: E402
from qa.store.current import refresh_current  # noqa: E402

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
    from qa.flows.nightly import nightly_qa

    nightly_qa(inbox=str(REPO_ROOT / "data" / "samples"), db=str(db), rules=str(REPO_ROOT / "scripts_rules"),
               cache_dir=str(REPO_ROOT / "data" / "cache" / "transcripts"))
    return db


def _grow_copies(db: Path, copies: int) -> None:
    """Grow the seed database by copies, then rebuild its current results (the copies went in by hand)."""
    grow(db, copies)
    with open_store(db).connect() as con:
        con.execute("BEGIN")
        refresh_current(con)
        con.execute("COMMIT")


def grow(db: Path, copies: int) -> dict[str, int]:
    """Copy every seed conversation ``copies`` times; returns the row counts."""
    with open_store(db).connect() as con:
        con.execute("BEGIN")
        for sql in COPY_SQL.values():
            con.execute(sql, [copies])
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COPY_SQL}


def timed(fn: Callable[[], object], runs: int = 5) -> float:
    """Median wall time of ``runs`` calls, in milliseconds."""
    return percentiles(fn, runs)[0]  # type: ignore[return-value]


def percentiles(fn: Callable[[], object], runs: int) -> tuple[float, float, object]:
    """Median and p95 wall time of ``runs`` calls (after one warm-up call), in milliseconds, and the answer."""
    answer = fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], answer


def _comparable(result: object) -> object:
    """A query result as plain values (the old module has its own ``Page`` class)."""
    if hasattr(result, "rows") and hasattr(result, "total"):
        return result.columns, [tuple(r) for r in result.rows], result.total  # type: ignore[attr-defined]
    return result


def team_lead_cases(db: object, last_day: date) -> list[tuple[str, Callable[[], object], Callable[[], object]]]:
    """(name, today's query, the same question asked the old way) for the team lead's four questions."""
    import baseline_reads as old

    store = open_store(db)

    def bounds(days: int) -> dict[str, object]:
        first = (last_day - timedelta(days=days - 1)).isoformat()
        return {"since": queries.day_bound(first), "until": queries.day_bound(last_day.isoformat(), end=True)}

    team = "team-07"
    week, month = bounds(7), bounds(30)
    page = queries.conversations(store, queries.Filters(team=team, **week), sort="priority", limit=50)
    one = page.rows[0][0]

    def both_pages(module, where):  # the conversation page: its record, findings with verdicts, verdict history
        return lambda: (module.conversation(where, one), module.reviews(where, one))

    return [
        ("flagged list: one team, 7 days, first page of 50 + total",
         lambda: queries.conversations(store, queries.Filters(team=team, **week), sort="priority", limit=50),
         lambda: old.conversations(db, old.Filters(team=team, **week), sort="priority", limit=50)),
        ("per-operator daily stats, 30 days",
         lambda: queries.stats(store, "day-operator", queries.Filters(flagged=None, **month)),
         lambda: old.stats(db, "day-operator", old.Filters(flagged=None, **month))),
        ("rule hit counts, whole store",
         lambda: queries.rule_hits(store, queries.Filters(flagged=None)),
         lambda: old.rule_hits(db, old.Filters(flagged=None))),
        ("rule hit counts, one team, 30 days",
         lambda: queries.rule_hits(store, queries.Filters(flagged=None, team=team, **month)),
         lambda: old.rule_hits(db, old.Filters(flagged=None, team=team, **month))),
        ("one conversation's page (record, findings, verdicts, history)", both_pages(queries, store),
         both_pages(old, db)),
    ]


def run_generated(args: argparse.Namespace) -> None:
    """Generate (or reuse) a store of ``args.conversations`` and time the team lead's queries, new beside old."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from store_at_scale import generate

    work = None
    if args.db:
        db = Path(args.db)
    else:
        work = Path(tempfile.mkdtemp(prefix="qa-bench-queries-", dir=args.tmp))
        db = work / "qa.duckdb"
    try:
        if db.exists():
            print(f"reusing {db}")
        else:
            print(f"generating {args.conversations:,} conversations into {db} ...")
            made = generate(db, args.conversations)
            print(f"generated in {made.generate_s:.0f} s, current results backfilled in {made.backfill_s:.0f} s; "
                  f"{made.size_mb:,.0f} MiB")
        with _store_kind(args.store, db.parent) as open_as:
            _time_generated(args, open_as(db))
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


@contextmanager
def _store_kind(kind: str, work: Path) -> Iterator[Callable[[Path], object]]:
    """The generated file itself, or (``ducklake``) a throwaway PostgreSQL-catalogued lake holding a copy of it
    (``benchmarks/store_kinds.py``)."""
    if kind == "duckdb":
        yield lambda path: path
        return
    from store_kinds import bench_store

    with bench_store(kind, work) as open_as:
        yield open_as


def _time_generated(args: argparse.Namespace, db: object) -> None:
    """Row counts, then each team-lead query timed new and old."""
    from store_at_scale import END_DAY

    counts = open_store(db).run_queries([(f"SELECT count(*) FROM {t}", []) for t in (
        "conversations", "utterances", "scores", "findings", "current_findings", "reviews")])
    print("rows: " + ", ".join(f"{name} {rows[0][0]:,}" for name, (_, rows) in zip(
        ("conversations", "utterances", "scores", "findings", "current findings", "reviews"), counts,
        strict=True)))
    print(f"store: {args.store}; {args.runs} runs each (old way: {args.baseline_runs}), each opening the file "
          "read-only\n")
    print("| query | median ms | p95 ms | old way median ms | old / new | same answer |")
    print("|---|---|---|---|---|---|")
    for name, new, old in team_lead_cases(db, date.fromisoformat(END_DAY)):
        median, p95, answer = percentiles(new, args.runs)
        if args.baseline_runs:
            old_median, _, old_answer = percentiles(old, args.baseline_runs)
            same = "yes" if _comparable(answer) == _comparable(old_answer) else "NO"
            print(f"| {name} | {median:.0f} | {p95:.0f} | {old_median:.0f} | {old_median / median:.1f}x | {same} |")
        else:
            print(f"| {name} | {median:.0f} | {p95:.0f} | – | – | – |")


def run_copies(args: argparse.Namespace) -> None:
    """The older mode: the samples' database grown by copies, a wider set of pages."""
    work = Path(tempfile.mkdtemp(prefix="qa-bench-queries-", dir=args.tmp))
    try:
        db = seed_database(work)
        start = time.perf_counter()
        _grow_copies(db, args.copies)
        store = open_store(db)
        grow_s = time.perf_counter() - start
        counts = {t: store.query(f"SELECT count(*) FROM {t}")[1][0][0]
                  for t in ("conversations", "utterances", "findings")}
        size_mb = os.path.getsize(db) / 2**20
        print(f"database: {counts['conversations']:,} conversations, {counts['utterances']:,} utterances, "
              f"{counts['findings']:,} findings; {size_mb:.0f} MiB; built in {grow_s:.1f} s")
        rule = "stop_word_dont_know"
        one = queries.conversations(store, queries.Filters(flagged=True), limit=1).rows[0][0]
        cases: list[tuple[str, Callable[[], object]]] = [
            ("flagged list, first page of 50", lambda: queries.conversations(store, queries.Filters(), limit=50)),
            ("flagged list, rule filter + date sort, page 10",
             lambda: queries.conversations(store, queries.Filters(rule=rule), sort="started_at", descending=True,
                                           limit=50, offset=450)),
            ("one conversation page (all its queries)", lambda: queries.conversation(store, one)),
            ("stats per operator", lambda: queries.stats(store, "operator")),
            ("stats per day", lambda: queries.stats(store, "day")),
            ("top rules", lambda: queries.rule_hits(store)),
            ("score histogram", lambda: queries.score_histogram(store)),
            ("rule precision", lambda: queries.rule_precision(store)),
            ("`qa flagged` (all flagged rows)", lambda: queries.flagged(store, queries.Filters(), limit=1000)),
            ("export pick: 20 findings of one rule",
             lambda: queries.findings(store, queries.Filters(flagged=None, rule=rule), limit=20)),
        ]
        try:
            from fastapi.testclient import TestClient  # the benchmark's own use; the package imports it once

            from qa.review.web.app import create_app

            client = TestClient(create_app(store, REPO_ROOT), base_url="http://127.0.0.1")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, help="generate a store of this many conversations")
    parser.add_argument("--copies", type=int, default=3000, help="without --conversations: copies of each sample")
    parser.add_argument("--db", help="with --conversations: keep the generated store here (reused when present)")
    parser.add_argument("--store", choices=("duckdb", "ducklake"), default="duckdb",
                        help="store kind: the file, or a DuckLake copy of it (needs the DuckLake store)")
    parser.add_argument("--runs", type=int, default=21, help="timed runs of each query")
    parser.add_argument("--baseline-runs", type=int, default=2, help="timed runs of the old way (0: skip it)")
    parser.add_argument("--tmp", help="folder for the temporary store (default: the system's)")
    args = parser.parse_args()
    if args.conversations:
        run_generated(args)
    else:
        run_copies(args)


if __name__ == "__main__":
    main()
