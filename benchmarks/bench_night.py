"""The night on this machine: one cold inbox through the nightly flow four ways, side by side.

``python benchmarks/bench_night.py [--calls 24] [--call-minutes 3] [--chats 200] [--repeats 1] [--workers 2]``
(``make bench-night``). The inbox: ``--calls`` telephone calls of about ``--call-minutes`` each (8 kHz stereo PCM
WAV, each the festival-voiced evaluation calls ``tests/fixtures/eval/audio/eNN.ogg`` joined end to end, a
different run of them per call) and ``--chats`` copies of the sample chats with ids of their own. Every run starts
from a fresh store and an empty transcript cache, in a process of its own:

- **today**: the code and defaults of :data:`BASELINE_REF` (main before this work: one call transcribed at a time
  with every core, Whisper's CPU batch of 8, chunks of 4 calls / 100 chats), its ``qa/`` checked out with
  ``git archive``; where that is not possible (a shallow clone, or ``--baseline none``), it is left out;
- **settings**: this code with those settings (:data:`TODAY_SETTINGS`). Since the baseline, issue #19 made every call
  cost more (a primed channel with an unsure word is decoded a second time without the prompt), so ``today`` measures
  the night's change as a whole and ``settings`` what the runner's choices (calls at once, threads, batch, chunks)
  are worth on today's work;
- **embedded**: this code's default (as many calls at once as pay off here, one CTranslate2 thread each);
- **dask**: a local Dask cluster of ``--workers`` worker processes (``qa run --workers N``).

Printed per run: wall time (the flow alone; the Prefect server's and the cluster's start-up apart), audio-hours per
wall-hour, the ratio to today's and to today's settings, peak resident memory of the flow process and of each
worker, each process's CPU time and page faults; then the median and spread over ``--repeats`` (runs interleaved, so
a burst of load from elsewhere falls on every kind alike), whether every kind stored the same transcripts, findings
and scores as each base, the per-chunk bookkeeping of each runner against an average chunk, and the 10,000-call night
(4.2-minute calls, 700 h of audio) projected on this machine. Never asserts a time. Reports the load average: the
machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
CODE_ROOT = Path(os.environ.get("QA_BENCH_CODE") or REPO_ROOT)  # where ``qa`` is imported from (baseline runs)
for root in (REPO_ROOT, CODE_ROOT):  # the baseline's code first: ``qa`` comes from it
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))

BASELINE_REF = "e8bc3747deb0ff1193c00e87511658bf0d9ce853"  # main before this work (one transcription at a time)
EVAL_AUDIO = REPO_ROOT / "tests" / "fixtures" / "eval" / "audio"
SAMPLES = REPO_ROOT / "data" / "samples"
RULES = REPO_ROOT / "scripts_rules"
NIGHT_CALLS = 10_000
NIGHT_CALL_MINUTES = 4.2  # 700 h of audio in 10,000 calls
KINDS = ("today", "settings", "embedded", "dask")
BASES = ("today", "settings")  # the kinds the others are compared with
# main before this work, as its defaults were: one call at a time on every core, batch 8, chunks of 4 calls / 100 chats
TODAY_SETTINGS = {"chunk_size": 4, "text_chunk_size": 100, "transcriptions": 1}
TODAY_BATCH = 8


# --- the inbox -----------------------------------------------------------------------------------------------------

def build_inbox(folder: Path, calls: int, call_minutes: float, chats: int) -> float:
    """Write the calls and chats; returns the calls' total audio in seconds."""
    import numpy as np

    from qa.speech.audio import decode_audio, encode_audio

    folder.mkdir(parents=True)
    pieces = []
    # the evaluation masters (``eNN.ogg``; before the PBX conditions they were ``eNN.8k.ogg``)
    for path in sorted(EVAL_AUDIO.glob("e[0-9][0-9].ogg")) or sorted(EVAL_AUDIO.glob("e[0-9][0-9].8k.ogg")):
        audio = decode_audio(path)
        if len(audio.channels) == 2:  # stereo calls only: operator left, client right
            pieces.append([c[::2] for c in audio.channels])  # 16 kHz of an 8 kHz source: every other sample
    gap = np.zeros(int(1.5 * 8000), dtype=np.float32)
    total = 0.0
    for i in range(calls):
        left, right, seconds, k = [], [], 0.0, i * 7
        while seconds < call_minutes * 60:
            piece = pieces[k % len(pieces)]
            left += [piece[0], gap]
            right += [piece[1], gap]
            seconds += (len(piece[0]) + len(gap)) / 8000
            k += 1
        (folder / f"call_{i:03d}.wav").write_bytes(encode_audio([np.concatenate(left), np.concatenate(right)],
                                                                8000, "wav"))
        total += seconds
    sources = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SAMPLES.glob("*.chat.json"))]
    for i in range(chats):
        chat = dict(sources[i % len(sources)], id=f"night-chat-{i:04d}")
        (folder / f"chat_{i:04d}.chat.json").write_text(json.dumps(chat, ensure_ascii=False), encoding="utf-8")
    return total


# --- one run, in a child process -------------------------------------------------------------------------------

def _usage() -> dict[str, float]:
    """This process's peak RSS (MiB), CPU seconds and minor page faults."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"rss_mb": ru.ru_maxrss / 1024, "user_s": ru.ru_utime, "sys_s": ru.ru_stime, "faults": ru.ru_minflt}


def _bookkeeping(runner: Any, n: int = 12) -> float | None:
    """Seconds one empty chunk costs on ``runner`` (a task submitted and its result awaited), the median of ``n``."""
    try:
        from prefect import flow

        from qa.flows.nightly import process_chunk
        from qa.run.pipeline import PipelineSettings
    except ImportError:  # the baseline's code has no single chunk task
        return None
    settings = PipelineSettings(rules_dir=str(RULES))

    @flow(name="bench-bookkeeping", task_runner=runner)
    def empty_chunks() -> list[float]:
        out = []
        for _ in range(n):
            start = time.perf_counter()
            process_chunk.submit([], settings).result()
            out.append(time.perf_counter() - start)
        return out

    return statistics.median(empty_chunks()[2:])


def child(job: dict[str, Any]) -> dict[str, Any]:
    """One measured run of the nightly flow (in this process); its figures."""
    from prefect import flow

    from qa.run.environment import apply_defaults

    apply_defaults(quiet_prefect=True)
    out: dict[str, Any] = {}
    started = time.perf_counter()

    @flow(name="bench-warm-up")
    def warm_up() -> None:
        return None

    warm_up()  # the ephemeral Prefect server starts once per process: apart from the run
    out["prefect_start_s"] = time.perf_counter() - started
    cluster = client = None
    try:
        from qa.flows.nightly import nightly_flow, nightly_qa
        from qa.run.cluster import ClusterSettings

        kwargs = {"inbox": job["inbox"], "db": job["db"], "rules": str(RULES), "cache_dir": job["cache"]}
        kwargs.update(job.get("flow_kwargs", {}))
        flow_fn = nightly_qa
        if job.get("workers"):
            from qa.run.cluster import connect, start_local_cluster

            started = time.perf_counter()
            cluster = start_local_cluster(job["workers"])
            client = connect(cluster.scheduler_address)
            client.wait_for_workers(job["workers"])
            out["cluster_start_s"] = time.perf_counter() - started
            flow_fn = nightly_flow(ClusterSettings(address=cluster.scheduler_address))
        elif "transcriptions" in kwargs:
            flow_fn = nightly_flow(None, kwargs["transcriptions"])
        started = time.perf_counter()
        summary = flow_fn(**kwargs)
        out["wall_s"] = time.perf_counter() - started
        out["processed"], out["failed"] = summary["processed"], summary["failed"]
        out["flow"] = _usage()
        if client is not None:
            out["workers"] = sorted(client.run(_usage).values(), key=lambda u: u["rss_mb"])
            from prefect_dask import DaskTaskRunner

            out["bookkeeping_s"] = _bookkeeping(DaskTaskRunner(address=cluster.scheduler_address))
        else:
            from prefect.task_runners import ThreadPoolTaskRunner

            out["bookkeeping_s"] = _bookkeeping(ThreadPoolTaskRunner(max_workers=2))
        settings = _run_settings(job["db"])
        out["settings"] = {k: settings.get(k) for k in ("chunk_size", "text_chunk_size", "transcriptions",
                                                         "cpu_threads", "transcriptions_chosen_by", "runner")}
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    return out


def _run_settings(db: str) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        row = con.execute("SELECT settings FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
    finally:
        con.close()
    return json.loads(row[0]) if row and row[0] else {}


def run_child(job: dict[str, Any], code: Path | None, env: dict[str, str]) -> dict[str, Any]:
    """``job`` in a fresh process (with ``qa`` imported from ``code`` when given); its figures."""
    environ = {**os.environ, **env}
    if code is not None:
        environ["QA_BENCH_CODE"] = str(code)
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(job)],
                          capture_output=True, text=True, env=environ, cwd=str(code or REPO_ROOT), check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"bench child failed: {job}")
    return json.loads(lines[-1])


# --- comparing what each kind stored -----------------------------------------------------------------------------

_RESULT_QUERIES = {
    "utterances": "SELECT conversation_id, idx, speaker, start_s, end_s, text, words FROM utterances "
                  "ORDER BY conversation_id, idx",
    "findings": "SELECT conversation_id, finding_idx, rule_id, speaker, start_s, end_s, quote, details FROM findings "
                "ORDER BY conversation_id, finding_idx",
    "scores": "SELECT conversation_id, total, flagged, reasons, details FROM scores ORDER BY conversation_id",
    "stats": "SELECT conversation_id, duration_s, speaker_mode, transcription->'stats' FROM conversations "
             "ORDER BY conversation_id",
}


def stored_results(db: str) -> dict[str, list]:
    """What a run stored, without run ids, times and the runner's settings."""
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        return {name: con.execute(sql).fetchall() for name, sql in _RESULT_QUERIES.items()}
    finally:
        con.close()


def differences(a: dict[str, list], b: dict[str, list]) -> list[str]:
    """The tables whose stored rows differ, with how many rows differ."""
    out = []
    for name in _RESULT_QUERIES:
        if a[name] != b[name]:
            differ = sum(x != y for x, y in zip(a[name], b[name], strict=False)) + abs(len(a[name]) - len(b[name]))
            out.append(f"{name}: {differ} of {max(len(a[name]), len(b[name]))} rows")
    return out


# --- the report -----------------------------------------------------------------------------------------------------

def _baseline_code(work: Path, ref: str) -> Path | None:
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", ref, "qa"], capture_output=True, check=False)
    if archive.returncode != 0:
        print(f"(baseline {ref[:10]} not in this clone: 'today' left out; 'settings' runs today's settings on this "
              "code)", flush=True)
        return None
    folder = work / "baseline"
    folder.mkdir()
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def _fmt_usage(u: dict[str, float]) -> str:
    return f"{u['rss_mb']:.0f} MiB, cpu {u['user_s']:.0f}+{u['sys_s']:.0f} s, {u['faults'] / 1e6:.1f}M faults"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=24)
    parser.add_argument("--call-minutes", type=float, default=3.0)
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes of the dask run")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each kind, interleaved")
    parser.add_argument("--kinds", default=",".join(KINDS), help="which of today,settings,embedded,dask to run")
    parser.add_argument("--baseline", default=BASELINE_REF, help="commit whose code is 'today' ('none': no 'today' "
                        "run; 'settings' is this code with today's settings)")
    parser.add_argument("--keep", help="keep the work folder here (inbox, stores)")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    from qa.run.environment import apply_defaults
    from qa.speech.transcribe.concurrency import available_memory_mib, usable_cores

    apply_defaults()
    work = Path(args.keep or tempfile.mkdtemp(prefix="qa-bench-night-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(work / "prefect"))
    kinds = [k for k in args.kinds.split(",") if k]
    try:
        cores = usable_cores()
        print(f"machine: {cores} cores, {(available_memory_mib() or 0) / 1024:.1f} GiB available; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (others' work counts: compare ratios)", flush=True)
        started = time.perf_counter()
        audio_s = build_inbox(work / "inbox", args.calls, args.call_minutes, args.chats)
        print(f"inbox: {args.calls} calls ({audio_s / 3600:.2f} h of 8 kHz stereo audio, "
              f"{audio_s / args.calls / 60:.1f} min each) + {args.chats} chats, built in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        baseline = None
        if "today" in kinds:
            baseline = _baseline_code(work, args.baseline) if args.baseline.lower() != "none" else None
            if baseline is None:
                kinds.remove("today")
        settings_env = {"QA_CPU_THREADS": str(cores), "QA_BATCH_SIZE": str(TODAY_BATCH)}
        jobs = {
            "today": (baseline, {}, {"flow_kwargs": {}}),
            "settings": (None, settings_env, {"flow_kwargs": dict(TODAY_SETTINGS)}),
            "embedded": (None, {}, {"flow_kwargs": {}}),
            "dask": (None, {}, {"workers": args.workers, "flow_kwargs": {}}),
        }
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
        dbs: dict[str, str] = {}
        print(f"\n{'run':<10}{'wall s':>8}{'audio h/h':>10}{'vs today':>9}{'vs sett.':>9}{'start s':>9}  "
              "flow process; workers", flush=True)
        for repeat in range(args.repeats):
            for kind in kinds:
                code, env, extra = jobs[kind]
                db = work / f"{kind}-{repeat}.duckdb"
                job = {"inbox": str(work / "inbox"), "db": str(db), "cache": str(work / f"cache-{kind}-{repeat}"),
                       **extra}
                r = run_child(job, code, env)
                r["rate"] = (audio_s / 3600) / (r["wall_s"] / 3600)
                runs[kind].append(r)
                dbs.setdefault(kind, str(db))
                start = r["prefect_start_s"] + r.get("cluster_start_s", 0.0)
                workers = "; ".join(_fmt_usage(w) for w in r.get("workers", []))
                versus = "".join(f"{r['rate'] / runs[b][-1]['rate']:>8.2f}x" if runs.get(b) else f"{'-':>9}"
                                 for b in BASES)
                print(f"{kind:<10}{r['wall_s']:>8.0f}{r['rate']:>10.1f}{versus}"
                      f"{start:>9.1f}  {_fmt_usage(r['flow'])}" + (f"; {workers}" if workers else "")
                      + (f"  [{r['failed']} failed]" if r["failed"] else ""), flush=True)
        report(runs, dbs, args, audio_s)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def report(runs: dict[str, list[dict[str, Any]]], dbs: dict[str, str], args: argparse.Namespace,
           audio_s: float) -> None:
    """Medians and spread, ratios, identity of results, bookkeeping and the projected night."""
    print(f"\nmedian over {args.repeats} run(s) of each (range):", flush=True)
    for kind, rs in runs.items():
        rates = [r["rate"] for r in rs]
        rate = statistics.median(rates)
        ratio = ""
        for base, name in zip(BASES, ("today's", "today's settings"), strict=True):
            if not runs.get(base) or base == kind:
                continue
            ratio += f", {rate / statistics.median(r['rate'] for r in runs[base]):.2f}x {name}"
            if len(rs) > 1 and len(runs[base]) == len(rs):
                each = sorted(r["rate"] / t["rate"] for r, t in zip(rs, runs[base], strict=True))
                ratio += f" (side by side: {each[0]:.2f}–{each[-1]:.2f}x)"
        night_h = NIGHT_CALLS * NIGHT_CALL_MINUTES / 60 / rate
        s = rs[-1].get("settings", {})
        print(f"  {kind:<9} {rate:5.1f} audio-hours per wall-hour ({min(rates):.1f}–{max(rates):.1f}){ratio}; "
              f"10,000-call night ({NIGHT_CALLS * NIGHT_CALL_MINUTES / 60:.0f} h of audio): {night_h:.1f} h; "
              f"settings {json.dumps(s, ensure_ascii=False)}", flush=True)
    print("\nper-chunk bookkeeping (an empty chunk's task, submitted and awaited):", flush=True)
    for kind, rs in runs.items():
        cost = rs[-1].get("bookkeeping_s")
        if cost is None:
            continue
        s = rs[-1].get("settings", {})
        calls_per = s.get("chunk_size") or 1
        slots = args.workers if kind == "dask" else (s.get("transcriptions") or 1)
        per_call = rs[-1]["wall_s"] * (slots if isinstance(slots, int) else 1) / max(1, args.calls)
        print(f"  {kind:<9} {cost * 1000:.0f} ms = {100 * cost / (per_call * calls_per):.1f}% of a chunk of "
              f"{calls_per} call(s) (~{per_call * calls_per:.0f} s of a worker)", flush=True)
    for base_kind in BASES:
        if base_kind not in dbs:
            continue
        base = stored_results(dbs[base_kind])
        for kind, db in dbs.items():
            if kind not in BASES:
                diff = differences(base, stored_results(db))
                print(f"{kind} stored the same transcripts, findings and scores as {base_kind}: "
                      f"{'yes' if not diff else 'NO: ' + '; '.join(diff)}", flush=True)


if __name__ == "__main__":
    main()
