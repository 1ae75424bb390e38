"""Writes ``qa score --json`` for the bundled samples and the evaluation set into a folder, one file per input.

Run it before and after a change that must not move any output, then compare the two folders::

    .venv/bin/python tools/score_snapshot.py /tmp/before
    .venv/bin/python tools/score_snapshot.py /tmp/after
    diff -r /tmp/before /tmp/after && echo byte-identical

Inputs: every file of ``data/samples`` (calls, chats, the transcript), every call of the evaluation set's audio
(16 kHz and 8 kHz copies), and every evaluation item (calls and chats) written as a transcript or chat file
under ``INPUTS``. The samples and audio are copied there too: a fixed folder, so the ``source_path`` in the
output is the same from any checkout. Each is scored
through the real command, in one process (``typer.testing.CliRunner``), so the model loads once.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qa.cli import app  # noqa: E402

EVAL = REPO / "tests" / "fixtures" / "eval"
INPUTS = Path("/tmp/qa-score-snapshot-inputs")  # --inputs: another fixed folder (two snapshots at once)
ROLES = {"o": "operator", "c": "client", "u": "unknown", "b": "bot"}


def _eval_files() -> list[Path]:
    """Each evaluation item as a ``*.transcript.json`` (calls) or ``*.chat.json`` (chats) under INPUTS."""
    import yaml

    (INPUTS / "eval").mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    calls = yaml.safe_load((EVAL / "calls.yml").read_text(encoding="utf-8"))["calls"]
    for item in calls:
        t, turns = 0.0, []
        for speaker, pause, text in item["turns"]:
            start = round(t + float(pause), 2)
            end = round(start + 0.38 * len(text.split()), 2)
            turns.append({"speaker": ROLES[speaker], "start": start, "end": end, "text": text})
            t = end
        data = {"id": item["id"], "team": item.get("team"), "turns": turns, **(item.get("sidecar") or {})}
        path = INPUTS / "eval" / f"{item['id']}.transcript.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        out.append(path)
    chats = yaml.safe_load((EVAL / "chats.yml").read_text(encoding="utf-8"))["chats"]
    t0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    for item in chats:
        messages = [{"at": (t0 + timedelta(seconds=float(at))).isoformat(), "role": ROLES[speaker], "text": text}
                    for speaker, at, text in item["messages"]]
        data = {"id": item["id"], "team": item.get("team"), "messages": messages, **(item.get("sidecar") or {})}
        path = INPUTS / "eval" / f"{item['id']}.chat.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        out.append(path)
    return out


def _copied(folder: Path, name: str) -> Path:
    """``folder`` copied to ``INPUTS/name`` (so the output names the same paths from any checkout)."""
    target = INPUTS / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(folder, target)
    return target


def inputs() -> list[Path]:
    """Every input the snapshot scores, in a fixed order."""
    samples = sorted(p for p in _copied(REPO / "data" / "samples", "samples").iterdir()
                     if p.suffix in (".flac", ".ogg") or p.name.endswith((".chat.json", ".transcript.json")))
    return samples + sorted(_copied(EVAL / "audio", "eval-audio").glob("*.ogg")) + _eval_files()


def main() -> int:
    global INPUTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--only", default="", help="score only inputs whose name contains this")
    parser.add_argument("--inputs", type=Path, default=INPUTS, help="the fixed folder the inputs are copied to "
                        "(the same for both snapshots of a comparison)")
    args = parser.parse_args()
    INPUTS = args.inputs
    args.out.mkdir(parents=True, exist_ok=True)
    runner = CliRunner()
    for path in inputs():
        if args.only not in path.name:
            continue
        result = runner.invoke(app, ["score", str(path), "--json"])
        (args.out / f"{path.parent.name}__{path.name}.json").write_text(
            f"exit {result.exit_code}\n{result.stdout}", encoding="utf-8")
        print(path.name, result.exit_code, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
