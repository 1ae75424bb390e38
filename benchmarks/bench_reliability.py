"""The bad-input matrix: every kind of ``benchmarks/reliability_kinds.py`` (one bad input or fault beside three good
files: a call, a chat, a transcript) through a real ``qa run`` into a fresh DuckDB file, and a verdict per kind.

Run: ``make bench-reliability`` (or ``.venv/bin/python benchmarks/bench_reliability.py [--baseline REF|none]``).

Per kind it prints the exit code, the line of output that names the bad input (or the error), the conversations
stored, and the verdict:

- ``crash``: a traceback, an exit code that lost the night (anything but 0 with good files beside), or a good
  file not stored;
- ``wrong``: the bad input stored when it should have failed (or the other way round), a good conversation
  replaced, a refused run that stored something;
- ``silent``: the bad input neither stored, nor recorded as failed, nor named in the output;
- ``ok``: what the kind expects.

Targets: 0 crash, 0 wrong, 0 silent. ``--baseline REF`` (default: the commit before issue #22's fixes) runs the
same matrix on that commit's ``qa`` (``git archive``, in a subprocess) and prints its verdicts beside.
Each run is ``qa run`` through Typer's test runner in one process (the Prefect server starts once); kinds that
need a process that ``chmod 000`` keeps out run ``python -m qa.cli run`` as root without CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH (``setpriv``), or as this user when not root.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINE_REF = "e8bc3747deb0ff1193c00e87511658bf0d9ce853"  # main when issue #22 was filed
RULES = REPO / "scripts_rules"
HOUR_AGO = time.time() - 3600


def _age(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_symlink() or not path.exists() or not (path.is_file() or path.is_dir()):
            continue
        try:
            os.utime(path, (HOUR_AGO, HOUR_AGO))
        except OSError:
            pass


def _stored(db: Path) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str, str]], list[tuple[str, str]]]:
    """Conversations (id -> channel, source), failures (source, stage, error) and runs (id, status) of ``db``."""
    import duckdb

    if not db.exists():
        return {}, [], []
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error:
        return {}, [], []
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        convs = {r[0]: (r[1], r[2]) for r in con.execute(
            "SELECT conversation_id, channel, source_path FROM conversations").fetchall()} \
            if "conversations" in tables else {}
        fails = con.execute("SELECT source_path, stage, error FROM failures").fetchall() if "failures" in tables \
            else []
        runs = con.execute("SELECT run_id, status FROM runs").fetchall() if "runs" in tables else []
    finally:
        con.close()
    return convs, fails, runs


def _run(kind, inbox: Path, db: Path, cache: Path, code: Path) -> tuple[int, str, bool]:
    """One ``qa run``: exit code, output (stdout and stderr), whether it crashed with a traceback."""
    args = ["run", str(inbox), "--db", str(db), "--rules", str(RULES), "--cache-dir", str(cache), *kind.args]
    if "--settle" not in kind.args:
        args += ["--settle", "0"]
    if kind.unprivileged:
        command = [sys.executable, "-m", "qa.cli", *args]
        if os.geteuid() == 0:
            command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
        env = {**os.environ, "PYTHONPATH": str(code), "COLUMNS": "300"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=inbox.parent, timeout=900)
        text = done.stdout + done.stderr
        return done.returncode, text, "Traceback (most recent call last)" in text
    from typer.testing import CliRunner

    from qa.cli import app

    result = CliRunner().invoke(app, args)
    text = result.output + (getattr(result, "stderr", "") if getattr(result, "stderr_bytes", None) else "")
    crashed = "Traceback (most recent call last)" in text or (
        result.exception is not None and not isinstance(result.exception, SystemExit))
    if crashed and result.exception is not None and "Traceback" not in text:
        text += f"\n{type(result.exception).__name__}: {result.exception}"
    return result.exit_code, text, crashed


def _message(text: str, made, inbox: Path, crashed: bool) -> str:
    lines = [" ".join(line.split()) for line in text.splitlines()]
    names = [p.name for p in made.paths]
    if crashed:
        found = [line for line in lines if line and not line.startswith(("File ", "^", "~"))]
        return found[-1] if found else "(traceback)"
    for line in lines:
        if any(name and name in line for name in names) or line.startswith(("error:", "note:")) \
                or "Invalid value" in line:  # a bad option: Typer's usage box
            return line.replace(str(inbox) + "/", "")
    return ""


def _verdict(kind, made, code: int, text: str, crashed: bool, convs, fails, runs) -> tuple[str, str]:
    """The verdict and why."""
    if crashed:
        return "crash", "traceback"
    said = " ".join(text.split())
    named = any(str(p) in said or p.name in said for p in made.paths)
    bad_sources = {str(p) for p in made.paths}
    failed = [f for f in fails if f[0] in bad_sources or any(f[0].startswith(str(p)) for p in made.paths)]
    stored_bad = [cid for cid in made.ids if cid in convs]
    if kind.expect == "refuse":
        if code == 2 and ("error:" in said or "Invalid value" in said) and not convs:
            return "ok", "refused before the run"
        return ("wrong", f"exit {code}, {len(convs)} stored") if code != 2 or convs else ("silent", "no message")
    if code != 0:
        return "crash", f"exit {code}: the night is lost"
    good = {"call-0001": "call", "chat-0001": "chat", "transcript-0001": "call"}
    missing = [cid for cid in good if cid not in convs]
    if missing:
        return "crash", f"good input(s) not stored: {', '.join(missing)}"
    if convs["call-0001"][1].endswith((".chat.json", ".transcript.json")) or \
            not convs["chat-0001"][1].endswith(".chat.json"):
        return "wrong", "a good conversation was replaced by the bad input"
    if kind.expect == "fail":
        if stored_bad:
            return "wrong", "stored instead of failed"
        if failed:
            return "ok", "failed, named"
        return ("wrong", "named but not recorded as failed") if named else ("silent", "neither stored nor named")
    if kind.expect in ("store", "warn"):
        if failed:
            return "wrong", f"refused a valid input: {failed[0][2][:80]}"
        if len(stored_bad) < len(made.ids):
            return "silent", "not stored, not named" if not named else "not stored"
        if kind.expect == "warn" and "warning:" not in said:
            return "silent", "stored without the warning"
        return "ok", "stored" + (" with a warning" if kind.expect == "warn" else "")
    if kind.expect == "skip":
        if stored_bad or failed:
            return "wrong", "processed instead of skipped"
        return ("ok", "named, left alone") if named else ("silent", "skipped without a word")
    if kind.expect == "dedupe":
        return ("ok", "stored once") if len(convs) == 3 and not failed else ("wrong", f"{len(convs)} stored")
    if kind.expect == "note":
        statuses = dict(runs)
        if statuses.get("killed-earlier") == "running":
            return "silent", "left 'running'"
        return ("ok", "marked interrupted, named") if "killed-earlier" in said else ("silent", "not named")
    return "wrong", f"unknown expectation {kind.expect}"


def run_matrix(code: Path, only: str | None = None) -> list[dict]:
    """Every kind against the ``qa`` in ``code`` (imported from there), each in a fresh inbox and database."""
    sys.path.insert(0, str(code))
    os.environ["PYTHONPATH"] = str(code)
    os.environ.setdefault("COLUMNS", "300")
    from reliability_kinds import GOOD, KINDS, SAMPLES  # beside this script (sys.path[0])

    work = Path(tempfile.mkdtemp(prefix="qa-reliability-"))
    cache = work / "cache"
    results = []
    try:
        for n, kind in enumerate(KINDS):
            if only and only not in kind.name:
                continue
            case = work / f"{n:02d}"
            inbox = case / "inbox"
            inbox.mkdir(parents=True)
            for names in GOOD.values():
                for name in names:
                    shutil.copy(SAMPLES / name, inbox / name)
            _age(case)
            made = kind.make(inbox)
            db = case / "qa.duckdb"
            if kind.before:
                kind.before(db)
            started = time.perf_counter()
            try:
                code_, text, crashed = _run(kind, inbox, db, cache, code)
            finally:
                for path in case.rglob("*"):
                    if path.is_dir() and not path.is_symlink():
                        path.chmod(0o755)
            convs, fails, runs = _stored(db)
            verdict, why = _verdict(kind, made, code_, text, crashed, convs, fails, runs)
            message = _message(text, made, inbox, crashed) or (f"({why})" if verdict == "ok" else "")
            results.append({"kind": kind.name, "expect": kind.expect, "exit": code_, "rows": len(convs),
                            "message": message, "verdict": verdict, "why": why,
                            "seconds": round(time.perf_counter() - started, 1)})
            print(f"{kind.name}: {verdict} ({why}; exit {code_}, {len(convs)} rows)", file=sys.stderr, flush=True)
    finally:
        for path in work.rglob("*"):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(work, ignore_errors=True)
    return results


def baseline_results(ref: str, only: str | None) -> list[dict] | str:
    """The matrix run on commit ``ref``'s ``qa`` (``git archive`` into a temporary folder, in a subprocess)."""
    with tempfile.TemporaryDirectory(prefix="qa-reliability-base-") as folder:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "qa"], capture_output=True)
        if archive.returncode != 0:
            return f"git archive {ref} failed: {archive.stderr.decode(errors='replace').strip()}"
        subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
        out = Path(folder) / "results.json"
        command = [sys.executable, str(Path(__file__)), "--child", folder, "--out", str(out)]
        if only:
            command += ["--only", only]
        done = subprocess.run(command, cwd=folder, env={**os.environ, "PYTHONPATH": folder})
        if done.returncode != 0 or not out.exists():
            return f"the baseline run failed (exit {done.returncode})"
        return json.loads(out.read_text(encoding="utf-8"))


def report(now: list[dict], base: list[dict] | str | None) -> None:
    before = {r["kind"]: r for r in base} if isinstance(base, list) else {}
    width = max(len(r["kind"]) for r in now)
    head = f"{'kind':<{width}}  {'expect':<6}  exit  rows  {'verdict':<7}"
    print(head + ("  before (exit, rows, verdict)" if before else "") + "  message")
    for r in now:
        was = before.get(r["kind"])
        old = f"  {was['exit']:>4} {was['rows']:>4}  {was['verdict']:<7}      " if was else \
            ("  " + " " * 29 if before else "")
        print(f"{r['kind']:<{width}}  {r['expect']:<6}  {r['exit']:>4}  {r['rows']:>4}  {r['verdict']:<7}{old}  "
              f"{r['message'][:110]}")
    counts = Counter(r["verdict"] for r in now)
    print(f"\n{len(now)} kinds: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in ("ok", "crash", "wrong", "silent"))
          + "  (targets: 0 crash, 0 wrong, 0 silent)")
    if before:
        old = Counter(r["verdict"] for r in before.values())
        print("before: " + ", ".join(f"{old.get(v, 0)} {v}" for v in ("ok", "crash", "wrong", "silent")))
    elif isinstance(base, str):
        print(f"baseline: {base}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=BASELINE_REF, help="a commit to run beside, or 'none'")
    parser.add_argument("--only", help="only the kinds whose name holds this text")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # run the matrix with the qa in this folder
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.child:
        args.out.write_text(json.dumps(run_matrix(args.child, args.only), ensure_ascii=False), encoding="utf-8")
        return
    now = run_matrix(REPO, args.only)
    base = None if args.baseline == "none" else baseline_results(args.baseline, args.only)
    report(now, base)
    if args.json:
        args.json.write_text(json.dumps({"now": now, "baseline": base}, ensure_ascii=False, indent=1),
                             encoding="utf-8")


if __name__ == "__main__":
    main()
