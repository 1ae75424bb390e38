"""Scale-out and re-scoring at scale: the nightly flow on 1, 2 and 4 local Dask workers against today's embedded
runner, and ``qa rescore`` over a store of 100k generated conversations, with and without token reuse.

Run ``python benchmarks/bench_scale.py [--chats 200] [--workers 1,2,4] [--rescore 100000] [--fresh 5000]``.

Inbox: the 40 evaluation calls (``tests/fixtures/eval/audio/eNN.ogg``, festival speech) and ``--chats`` copies of
the sample chats with their own ids. Each run is on a fresh store: ``cold`` (empty transcript
cache: Whisper transcribes every call; ``--cold`` picks the runners, default the embedded one and 2 workers) and
``cached`` (every runner, with a copy of the cache the first cold run filled: calls cost only the cache look-up and
scoring). Each configuration runs in a child process, so the flow process's peak memory is its own;
each Dask worker reports its own peak RSS. The cluster's start-up is timed apart from the run.

Rescore: a store is seeded with the scored evaluation conversations (their tokens stored) and copied in SQL to
``--rescore`` conversations; it is rescored with an edited rule set by the embedded runner, reusing the stored
tokens. Analysing every utterance afresh (``--no-reuse-tokens``) is measured on a ``--fresh``-conversation store
(it costs the whole text stage per conversation); both report conversations/s and the flow process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from qa.run.environment import apply_defaults  # noqa: E402
from qa.store import open_store  # noqa: E402

apply_defaults(quiet_prefect=True)

EVAL_DIR = REPO_ROOT / "tests" / "fixtures" / "eval"
SAMPLES = REPO_ROOT / "data" / "samples"
RULES = REPO_ROOT / "scripts_rules"


def build_inbox(folder: Path, chats: int) -> tuple[int, int]:
    """The 40 evaluation calls and ``chats`` chat copies; (calls, chats)."""
    folder.mkdir(parents=True)
    calls = sorted(p for p in (EVAL_DIR / "audio").glob("e[0-9][0-9].ogg"))
    for call in calls:
        shutil.copy(call, folder / call.name)
    sources = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SAMPLES.glob("*.chat.json"))]
    for i in range(chats):
        chat = dict(sources[i % len(sources)], id=f"bench-chat-{i:04d}")
        (folder / f"chat_{i:04d}.chat.json").write_text(json.dumps(chat, ensure_ascii=False), encoding="utf-8")
    return len(calls), chats


def _warm_up() -> None:
    from prefect import flow

    @flow(name="bench-warm-up")
    def warm_up() -> None:
        return None

    warm_up()


def _child(job: dict[str, Any]) -> dict[str, Any]:
    """One measured run, in this (child) process; returns its figures."""
    from qa.run.cluster import ClusterSettings, connect, start_local_cluster
    from qa_eval import process_loads

    cluster = client = None
    out: dict[str, Any] = {}
    started = time.perf_counter()
    _warm_up()  # the ephemeral Prefect server starts once per process: not part of a run's figures
    out["prefect_start_s"] = time.perf_counter() - started
    try:
        settings = None
        if job.get("workers"):
            started = time.perf_counter()
            cluster = start_local_cluster(job["workers"])
            client = connect(cluster.scheduler_address)
            client.wait_for_workers(job["workers"])
            out["cluster_start_s"] = time.perf_counter() - started
            settings = ClusterSettings(address=cluster.scheduler_address)
        started = time.perf_counter()
        if job["kind"] == "run":
            from qa.flows.nightly import nightly_flow

            summary = nightly_flow(settings)(inbox=job["inbox"], db=job["db"], rules=str(RULES),
                                             chunk_size=job["chunk_size"], cache_dir=job["cache"],
                                             settle_s=0)  # the generated inbox is complete
        else:
            from qa.flows.rescore import rescore_flow

            summary = rescore_flow(settings)(db=job["db"], rules=job["rules"], chunk_size=job["chunk_size"],
                                             reuse_tokens=job["reuse"])
        out["wall_s"] = time.perf_counter() - started
        out["processed"], out["failed"] = summary["processed"], summary["failed"]
        out["flow_rss_mb"] = process_loads.peak_rss_mb()
        if client is not None:
            out["worker_rss_mb"] = sorted(client.run(process_loads.peak_rss_mb).values())
            out["worker_loads"] = list(client.run(process_loads.counts).values())
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    return out


def run_child(job: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)], capture_output=True, text=True,
                            check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
        raise SystemExit(f"bench child failed: {job}")
    return json.loads(lines[-1])


def bench_runs(work: Path, chats: int, workers: list[int], chunk_size: int | None, cold: list[int]) -> None:
    from qa.run.pipeline import chunk_sizes

    inbox = work / "inbox"
    n_calls, n_chats = build_inbox(inbox, chats)
    total = n_calls + n_chats
    calls_per, chats_per = chunk_sizes(chunk_size, None)
    print(f"\n== nightly flow: {n_calls} calls + {n_chats} chats, chunks of {calls_per} calls / {chats_per} chats, "
          f"{len(os.sched_getaffinity(0))} CPU cores ==", flush=True)
    print(f"{'runner':<18}{'cache':<8}{'wall s':>8}{'conv/s':>8}{'ratio':>7}{'start s':>9}"
          f"{'flow MiB':>10}  worker peak RSS MiB", flush=True)
    warm = work / "cache-warm"  # filled by the first cold run, copied for every cached run
    plan = [("cold", n) for n in [0, *workers] if n in cold] + [("cached", n) for n in [0, *workers]]
    if not cold:
        plan = [("fill", 0), *plan]
    baselines: dict[str, float] = {}
    for mode, n in plan:
        cache = work / f"cache-{mode}-{n}"
        if mode == "cached":
            shutil.copytree(warm, cache)
        db = work / f"run-{mode}-{n}.duckdb"
        r = run_child({"kind": "run", "inbox": str(inbox), "db": str(db), "cache": str(cache),
                       "chunk_size": chunk_size, "workers": n})
        if mode != "cached" and not warm.exists():
            shutil.copytree(cache, warm)
        if mode == "fill":
            continue
        rate = r["processed"] / r["wall_s"]
        baselines.setdefault(mode, rate)
        name = "embedded threads" if n == 0 else f"dask {n} worker" + ("s" if n > 1 else "")
        rss = ", ".join(f"{m:.0f}" for m in r.get("worker_rss_mb", [])) or "-"
        start = f"{r['cluster_start_s']:.1f}" if "cluster_start_s" in r else "-"
        print(f"{name:<18}{mode:<8}{r['wall_s']:>8.1f}{rate:>8.2f}{rate / baselines[mode]:>6.2f}x{start:>9}"
              f"{r['flow_rss_mb']:>10.0f}  {rss}"
              + (f"  [{r['failed']} failed]" if r["failed"] or r["processed"] != total else ""), flush=True)
        if "worker_loads" in r:
            loads = r["worker_loads"]
            print(f"{'':<26}whisper loads per worker {[c.get('whisper', 0) for c in loads]}, "
                  f"rule set loads {[c.get('ruleset', 0) for c in loads]}", flush=True)


def seed_store(db: Path, conversations: int) -> int:
    """A store of ``conversations`` conversations: the scored evaluation set, copied in SQL; returns the count."""
    from qa.run import pipeline
    from qa_eval.evalset import load_eval_set

    seeds = [item.conversation() for item in load_eval_set(EVAL_DIR)]
    scorer = pipeline.get_scorer(RULES)
    scored = [scorer.score(c) for c in seeds]  # analyses them: their tokens are stored
    open_store(db).write_results("bench-seed", scored)
    copies = math.ceil(conversations / len(seeds))
    with open_store(db).connect() as con:
        con.execute("BEGIN")
        con.execute(
            "INSERT INTO conversations SELECT c.conversation_id || '-' || lpad(i::VARCHAR, 5, '0'), c.* EXCLUDE "
            "(conversation_id) FROM conversations c, range(1, ? + 1) t(i)", [copies])
        con.execute(
            "INSERT INTO utterances SELECT u.conversation_id || '-' || lpad(i::VARCHAR, 5, '0'), u.* EXCLUDE "
            "(conversation_id) FROM utterances u, range(1, ? + 1) t(i)", [copies])
        con.execute("DELETE FROM conversations WHERE conversation_id NOT IN (SELECT conversation_id FROM "
                    "conversations ORDER BY conversation_id LIMIT ?)", [conversations])
        con.execute("DELETE FROM utterances WHERE conversation_id NOT IN (SELECT conversation_id FROM conversations)")
        con.execute("COMMIT")
        return con.execute("SELECT count(*) FROM conversations").fetchone()[0]


def bench_rescore(work: Path, conversations: int, fresh: int, chunk_size: int, workers: list[int]) -> None:
    rules = work / "rules"
    shutil.copytree(RULES, rules)
    edited = next(p for p in sorted(rules.glob("*.yml")) if "stop" in p.name)
    edited.write_text(edited.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # a new rule set version
    print(f"\n== rescore, chunk size {chunk_size} ==", flush=True)
    print(f"{'store':>9}  {'runner':<18}{'tokens':<10}{'wall s':>8}{'conv/s':>9}{'flow MiB':>10}  worker MiB",
          flush=True)
    for size, reuse, runners in ((fresh, False, [0]), (fresh, True, [0]), (conversations, True, [0, *workers])):
        template = work / f"store-{size}.duckdb"
        if not template.exists():
            started = time.perf_counter()
            made = seed_store(template, size)
            print(f"{'':>9}  (seeded {made} conversations in {time.perf_counter() - started:.0f} s)", flush=True)
        for n in runners:
            db = work / "rescore.duckdb"
            shutil.copy(template, db)
            r = run_child({"kind": "rescore", "db": str(db), "rules": str(rules), "chunk_size": chunk_size,
                           "reuse": reuse, "workers": n})
            name = "embedded threads" if n == 0 else f"dask {n} workers"
            rss = ", ".join(f"{m:.0f}" for m in r.get("worker_rss_mb", [])) or "-"
            print(f"{size:>9}  {name:<18}{'reused' if reuse else 'analysed':<10}{r['wall_s']:>8.1f}"
                  f"{r['processed'] / r['wall_s']:>9.1f}{r['flow_rss_mb']:>10.0f}  {rss}"
                  + (f"  [{r['failed']} failed]" if r["failed"] else ""), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4", help="local Dask cluster sizes, comma separated")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="conversations per task (default: the flow's, 4 calls or 100 chats)")
    parser.add_argument("--cold", default="0,2", help="runners (0 = embedded, N = N workers) also run with an "
                        "empty transcript cache; every runner runs with the cache the first cold run filled")
    parser.add_argument("--rescore", type=int, default=100_000, help="conversations in the rescore store (0: skip)")
    parser.add_argument("--fresh", type=int, default=5_000, help="store size for the no-reuse rescore")
    parser.add_argument("--rescore-chunk", type=int, default=500)
    parser.add_argument("--rescore-workers", default="", help="also rescore the big store on these Dask sizes")
    parser.add_argument("--skip-runs", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    work = Path(tempfile.mkdtemp(prefix="qa-bench-scale-"))
    os.environ.setdefault("PREFECT_HOME", str(work / "prefect"))
    try:
        if not args.skip_runs:
            bench_runs(work, args.chats, workers, args.chunk_size, [int(c) for c in args.cold.split(",") if c.strip()])
        if args.rescore:
            bench_rescore(work, args.rescore, min(args.fresh, args.rescore), args.rescore_chunk,
                          [int(w) for w in args.rescore_workers.split(",") if w.strip()])
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
