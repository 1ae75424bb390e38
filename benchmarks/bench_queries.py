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

The transcript search is timed beside them (``search_cases``): the first page of 50 and the counts of a two-word
search for one team over 30 days (the figure the search promises), a phrase, a window with OR and NOT, fuzzy mode,
filters, all teams, the whole year; where an answer can be had without the index, beside that full scan of the
utterances' lemmas.
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
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RULES = REPO_ROOT / "scripts_rules"
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from qa.run.environment import apply_defaults  # noqa: E402
from qa.store import open_store, queries  # noqa: E402
from qa.store.current import refresh_current  # noqa: E402
from qa.store.search_index import refresh_search  # noqa: E402

apply_defaults()

COPY_SQL = {
    "conversations": """
        INSERT INTO conversations
        SELECT c.conversation_id || '-' || i, c.channel, c.source_path, c.content_sha256 || '-' || i,
               'op-' || lpad(((i * 7 + hash(c.conversation_id)) % 40)::VARCHAR, 2, '0'),
               'team-' || ((i * 7 + hash(c.conversation_id)) % 40 % 5)::VARCHAR,
               coalesce(c.started_at, TIMESTAMPTZ '2026-11-27 10:00:00+00') - to_days((i % 60)::INTEGER),
               c.duration_s, c.speaker_mode, c.metadata, c.transcription, c.ingested_at, c.run_id, c.purged_at
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
    """Grow the seed database by copies, then rebuild its current results and search index (the copies went in by
    hand)."""
    grow(db, copies)
    with open_store(db).connect() as con:
        con.execute("BEGIN")
        refresh_current(con)
        refresh_search(con)
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
    if isinstance(result, tuple) and result and isinstance(result[0], dict):  # a conversation's page
        # fields added since the old views were written (their reads have no such column): not compared
        return ({k: v for k, v in result[0].items() if k not in _NEWER_PAGE_FIELDS}, *result[1:])
    return result


_NEWER_PAGE_FIELDS = frozenset({"unverified", "warnings"})


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


SEARCH_TEAM = "team-07"


def _scan_search(db: object, lemmas: list[str], since: object, until: object, team: str | None,
                 limit: int = 50) -> tuple[int, list[tuple[str, int]]]:
    """The same question without the index: every utterance of the range read and its lemmas split (what a search
    costs with no index: a full scan of the transcripts per query)."""
    where = ["s.dated_at >= ?::TIMESTAMPTZ", "s.dated_at < ?::TIMESTAMPTZ"] + (["s.team = ?"] if team else [])
    params = [since, until, *([team] if team else [])]
    sql = f"""
        WITH m AS MATERIALIZED (
            SELECT s.dated_at, u.conversation_id, u.idx FROM utterances u
            JOIN current_scores s ON s.conversation_id = u.conversation_id
            WHERE {' AND '.join(where)} AND list_has_all(string_split(u.lemmas, ' '), ?::VARCHAR[])
        )
        SELECT (SELECT count(*) FROM m),
               (SELECT list((conversation_id, idx)) FROM (SELECT * FROM m ORDER BY dated_at DESC, conversation_id, idx
                                                          LIMIT ?))
    """
    _, [(total, keys)] = open_store(db).query(sql, [*params, lemmas, limit])
    return total, [tuple(k.values()) if isinstance(k, dict) else tuple(k) for k in keys or []]


def search_cases(db: object, last_day: date) -> list[tuple[str, Callable[[], object], Callable[[], object] | None]]:
    """(name, the search, the same question by a full scan or None) for the transcript search."""
    from qa.store.search import SearchFilters, search
    from qa.text.lemmatizer import get_lemmatizer
    from qa.text.search_query import parse_query

    store, lemmatizer = open_store(db), get_lemmatizer()
    month_since = queries.day_bound((last_day - timedelta(days=29)).isoformat())
    year_since = queries.day_bound((last_day - timedelta(days=364)).isoformat())
    until = queries.day_bound(last_day.isoformat(), end=True)
    month = SearchFilters(since=month_since, until=until, team=SEARCH_TEAM)

    def run(text: str, filters: SearchFilters, fuzzy: bool = False) -> Callable[[], object]:
        query = parse_query(text, lemmatizer, fuzzy=fuzzy)

        def go() -> object:
            page = search(store, query, filters, limit=50)
            return page.total, [(h.conversation_id, h.utterance_idx) for h in page.hits]
        return go

    def scan(lemmas: list[str], since: object, team: str | None) -> Callable[[], object]:
        return lambda: _scan_search(db, lemmas, since, until, team)

    words = ["вернуть", "деньга"]
    return [
        ("search: two words, one team, 30 days, first page of 50 + counts", run("вернуть деньги", month),
         scan(words, month_since, SEARCH_TEAM)),
        ("search: phrase, one team, 30 days", run('"верните деньги"', month), None),
        ("search: «вернуть деньги»~3 OR суд -спасибо, one team, 30 days",
         run("«вернуть деньги»~3 OR суд -спасибо", month), None),
        ("search: two words fuzzy, one team, 30 days", run("вернуть деньги", month, fuzzy=True), None),
        ("search: two words, client only, not found by escalation_refund, one team, 30 days",
         run("вернуть деньги", replace(month, speaker="client", rule="escalation_refund", rule_hit=False)), None),
        ("search: two words, all teams, 30 days", run("вернуть деньги", replace(month, team=None)),
         scan(words, month_since, None)),
        ("search: two words, all teams, 365 days", run("вернуть деньги", replace(month, team=None, since=year_since)),
         scan(words, year_since, None)),
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
            _mark_generated_tokens_current(db)
        else:
            print(f"generating {args.conversations:,} conversations into {db} ...")
            made = generate(db, args.conversations)
            print(f"generated in {made.generate_s:.0f} s, current results backfilled in {made.backfill_s:.0f} s; "
                  f"{made.size_mb:,.0f} MiB")
        with _store_kind(args.store, db.parent) as open_as:
            big = open_as(db)
            if args.runs:
                _time_generated(args, big)
            if args.write_runs:
                _time_writes(args, big, open_as.empty())
            if args.rescore_seconds >= 0:
                _rescore_rate(args, big)
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


def _mark_generated_tokens_current(db: Path) -> None:
    """A store generated before the generator tagged its tokens with the analysis version (they said
    ``generated``) would have every conversation analysed again by a rescore, which then times the lemmatiser, not
    the rescore: its generated tokens are marked current (they are what the generator means them to be)."""
    from qa.text.analysis_version import analysis_version

    current = analysis_version()
    with open_store(db).connect() as con:
        stale = con.execute("SELECT count(*) FROM utterances WHERE analysis_version = 'generated'").fetchone()[0]
        if stale:
            con.execute("UPDATE utterances SET analysis_version = ? WHERE analysis_version = 'generated'",
                        [current])
            print(f"  {stale:,} generated utterances tagged 'generated' marked with the current analysis version "
                  f"{current} (else a rescore re-analyses them all)")


@contextmanager
def _store_kind(kind: str, work: Path) -> Iterator[Callable[[Path], object]]:
    """The generated file itself, or (``ducklake``) a throwaway PostgreSQL-catalogued lake holding a copy of it
    (``benchmarks/store_kinds.py``); ``.empty()`` makes a new empty store of the same kind."""
    from store_kinds import bench_store

    with bench_store(kind, work) as open_as:
        yield open_as


def _time_writes(args: argparse.Namespace, big: str, empty: str) -> None:
    """One chunk's write on an empty store and on the generated one, interleaved (a burst of load from elsewhere
    falls on both alike), and their ratio. A nightly case is ``--write-runs`` nights per store of a few chunks each,
    written as the flow writes them (:func:`write_cost.time_night`): the mean per chunk (the checkpoints DuckDB
    makes when its log fills fall on chunks, so they count), and the night's closing checkpoint on a row of its
    own (once a night, not per chunk)."""
    from write_cost import copies, sample_scored, summary, time_night, time_rescore_write

    from qa.store.file import NIGHT_IDLE_S

    cache = REPO_ROOT / "data" / "cache" / "transcripts"
    calls, chats = sample_scored(cache)
    open_store(empty).write_results("bench-seed", copies(chats, 2100, "seed"))  # 4 pages to rescore; created
    nights = [  # calls: each chunk after a pause as long as transcribing one takes (the file is reopened for it)
        ("nightly chunk: 4 calls (minutes apart)", "c", lambda p: copies(calls, 4, p), 3,
         NIGHT_IDLE_S + 0.5),
        ("nightly chunk: 100 chats (back to back)", "t", lambda p: copies(chats, 100, p), 10, 0.0),
    ]
    print(f"\nwrite cost per chunk ({args.store}; {args.write_runs} runs each, empty and big interleaved; load "
          f"average {' '.join(f'{x:.1f}' for x in os.getloadavg())}):\n")
    print("| chunk | empty store | generated store | big / empty |")
    print("|---|---|---|---|")
    for name, label, chunk_of, chunks, pause_s in nights:
        timed = {"empty": ([], []), "big": ([], [])}
        for _ in range(args.write_runs):
            for which, db in (("empty", empty), ("big", big)):
                night = time_night(open_store(db), chunk_of, chunks, label, pause_s)
                timed[which][0].extend(night.chunks)
                timed[which][1].append(night.closing)
        (on_empty, end_empty), (on_big, end_big) = timed["empty"], timed["big"]
        ratio = statistics.mean(on_big) / statistics.mean(on_empty)
        print(f"| {name} | {summary(on_empty, mean=True)} | {summary(on_big, mean=True)} | {ratio:.2f}x |",
              flush=True)
        if args.store == "duckdb":  # a lake has no checkpoint to close the night with
            print(f"| … that night's closing checkpoint (once a night) | {summary(end_empty)} | {summary(end_big)} "
                  f"| {statistics.median(end_big) / statistics.median(end_empty):.2f}x |", flush=True)
    name = "rescore page: 500 conversations (4 on a held connection)"
    on_empty, on_big = [], []
    for _ in range(args.write_runs):
        on_empty += time_rescore_write(open_store(empty), RULES, 500, 1)
        on_big += time_rescore_write(open_store(big), RULES, 500, 1)
    ratio = statistics.median(on_big) / statistics.median(on_empty)
    print(f"| {name} | {summary(on_empty)} | {summary(on_big)} | {ratio:.2f}x |", flush=True)


def _rescore_rate(args: argparse.Namespace, db: str) -> None:
    """``qa rescore`` of the generated store with an edited rule set, run as the command runs (a process of its
    own), for ``--rescore-seconds`` (0: to the end); conversations/s from the pages it wrote."""
    import signal
    import subprocess

    rules = Path(tempfile.mkdtemp(prefix="qa-bench-rules-"))
    try:
        shutil.copytree(RULES, rules, dirs_exist_ok=True)
        edited = next(p for p in sorted(rules.glob("*.yml")) if "stop" in p.name)
        edited.write_text(edited.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # a new rule set version
        command = [sys.executable, "-m", "qa.cli", "rescore", "--db", str(db), "--rules", str(rules), "--no-resume"]
        began = time.perf_counter()
        log = rules / "rescore.log"
        with log.open("w") as err:
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, cwd=REPO_ROOT)
            try:
                process.wait(timeout=args.rescore_seconds or None)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGINT)  # stops it; the pages it wrote stay
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:  # still writing what was in flight: the rate is already known
                    process.kill()
                    process.wait()
        wall = time.perf_counter() - began
        _, rows = open_store(db).query(
            "SELECT sum(p.conversations), min(p.written_at), max(p.written_at), any_value(r.started_at), "
            "any_value(r.settings->>'chunk_size') "
            "FROM rescore_progress p JOIN runs r ON r.run_id = p.run_id "
            "WHERE r.run_id = (SELECT run_id FROM runs WHERE kind = 'rescore' ORDER BY started_at DESC LIMIT 1)")
        done, _first, last, started, page = rows[0]
        if not done:
            print(f"\nrescore: no page written in {wall:.0f} s: {log.read_text(errors='replace')[-500:]}")
            return
        rate = done / (last - started).total_seconds()
        total = open_store(db).query("SELECT count(*) FROM conversations")[1][0][0]
        print(f"\nqa rescore of the generated store ({total:,} conversations, pages of {page}, {args.store}): "
              f"{done:,} rescored in {(last - started).total_seconds():.0f} s = {rate:.0f} conversations/s "
              f"(whole store at this rate: {total / rate / 60:.0f} min); load average "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    finally:
        shutil.rmtree(rules, ignore_errors=True)


def _time_generated(args: argparse.Namespace, db: object) -> None:
    """Row counts, then each team-lead query timed new and old."""
    from store_at_scale import END_DAY

    counts = open_store(db).run_queries([(f"SELECT count(*) FROM {t}", []) for t in (
        "conversations", "utterances", "scores", "findings", "current_findings", "reviews", "search_sentences",
        "search_terms")])
    print("rows: " + ", ".join(f"{name} {rows[0][0]:,}" for name, (_, rows) in zip(
        ("conversations", "utterances", "scores", "findings", "current findings", "reviews", "indexed sentences",
         "indexed lemmas"), counts, strict=True)))
    print(f"store: {args.store}; {args.runs} runs each (old way: {args.baseline_runs}), each opening the file "
          "read-only\n")
    print("| query | median ms | p95 ms | old way median ms | old / new | same answer |")
    print("|---|---|---|---|---|---|")
    last = date.fromisoformat(END_DAY)
    for name, new, old in [*team_lead_cases(db, last), *search_cases(db, last)]:
        median, p95, answer = percentiles(new, args.runs)
        if args.baseline_runs and old is not None:
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
            *_copies_search_cases(store),
        ]
        try:
            from fastapi.testclient import TestClient  # the benchmark's own use; the package imports it once

            from qa.review.web.app import create_app

            client = TestClient(create_app(store, REPO_ROOT, auth_mode="none"),  # else every page is the sign-in form
                                base_url="http://127.0.0.1")
            cases += [
                ("web: GET /search?q=вернуть деньги (first page, snippets masked)",
                 lambda: client.get("/search", params={"q": "вернуть деньги"})),
                ("web: GET /trends", lambda: client.get("/trends")),
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


def _copies_search_cases(store: object) -> list[tuple[str, Callable[[], object]]]:
    """Search cases on the grown samples' database (no date filter: the copies span 60 days)."""
    from qa.store.search import SearchFilters, search
    from qa.text.lemmatizer import get_lemmatizer
    from qa.text.search_query import parse_query

    lemmatizer = get_lemmatizer()

    def run(text: str, filters: SearchFilters | None = None, fuzzy: bool = False) -> Callable[[], object]:
        query = parse_query(text, lemmatizer, fuzzy=fuzzy)
        return lambda: search(store, query, filters or SearchFilters(), limit=50)  # type: ignore[arg-type]

    return [
        ("search: two words, first page of 50 + counts", run("вернуть деньги")),
        ("search: two words, one team", run("вернуть деньги", SearchFilters(team="team-1"))),
        ("search: phrase", run('"позовите вашего руководителя"')),
        ("search: two words fuzzy", run("расторгнуть договор", fuzzy=True)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, help="generate a store of this many conversations")
    parser.add_argument("--copies", type=int, default=3000, help="without --conversations: copies of each sample")
    parser.add_argument("--db", help="with --conversations: keep the generated store here (reused when present)")
    parser.add_argument("--store", choices=("duckdb", "ducklake"), default="duckdb",
                        help="store kind: the file, or a DuckLake copy of it (needs the DuckLake store)")
    parser.add_argument("--runs", type=int, default=21, help="timed runs of each query (0: time no query, only "
                        "the writes and the rescore)")
    parser.add_argument("--baseline-runs", type=int, default=2, help="timed runs of the old way (0: skip it)")
    parser.add_argument("--tmp", help="folder for the temporary store (default: the system's)")
    parser.add_argument("--write-runs", type=int, default=5, help="with --conversations: timed chunk writes of each "
                        "kind on an empty and on the generated store (0: skip)")
    parser.add_argument("--rescore-seconds", type=int, default=300, help="with --conversations: run `qa rescore` of "
                        "the generated store this long and print its rate (0: to the end; -1: skip)")
    args = parser.parse_args()
    if args.conversations:
        run_generated(args)
    else:
        run_copies(args)


if __name__ == "__main__":
    main()
