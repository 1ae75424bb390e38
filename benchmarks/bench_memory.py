"""Peak memory of transcribing a long call, windowed (the default) beside the whole file in memory (as before).

Run: ``make bench-memory`` (or ``.venv/bin/python benchmarks/bench_memory.py --hours 1 3 [--mono]``).

For each length a stereo A-law WAV at 8 kHz (the telephony format) is made once under ``data/cache/bench-memory/``:
every ten minutes one of the bundled sample calls (operator left, client right, about a minute of talk) and then
hold noise at -45 dBFS, so Silero VAD and Whisper run over the whole length as on a real long call; ``--mono`` adds
its mono mixdown (one channel: the two voices told apart window by window). Each run is
``qa score FILE --json`` in a fresh process; its peak resident memory is the child's ``ru_maxrss`` (``os.wait4``).
``QA_AUDIO_WINDOW_S=0`` gives the baseline (the whole decoded call in memory). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qa.speech.audio import decode_audio  # noqa: E402

SAMPLES = REPO / "data" / "samples"
CACHE = REPO / "data" / "cache" / "bench-memory"
RATE = 8000
CYCLE_S = 600  # one sample call every ten minutes
TARGET_GIB = 1.0


def make_call(hours: float, mono: bool = False) -> Path:
    """The long stereo (or mono: the two channels mixed) A-law WAV of ``hours`` (made once, then reused)."""
    import av
    import numpy as np

    path = CACHE / f"long_{hours:g}h{'_mono' if mono else ''}.wav"
    if path.is_file():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    talks = []
    for name in ("call_compliant.flac", "call_stopwords.flac", "call_escalation.flac"):
        audio = decode_audio(SAMPLES / name)
        even = [c[: len(c) // 2 * 2] for c in audio.channels]
        talk = np.stack([(c[0::2] + c[1::2]) / 2 for c in even])  # 16 kHz -> 8 kHz, averaged pairs
        talks.append(talk.mean(axis=0, keepdims=True) if mono else talk)
    layout = "mono" if mono else "stereo"
    rng = np.random.default_rng(7)
    total = int(hours * 3600 * RATE)
    tmp = path.with_suffix(".tmp.wav")
    with av.open(str(tmp), mode="w", format="wav") as out:
        stream = out.add_stream("pcm_alaw", rate=RATE, layout=layout)
        written, n = 0, 0
        while written < total:
            talk = talks[n % len(talks)]
            hold = int(CYCLE_S * RATE) - talk.shape[1]
            noise = (rng.standard_normal((talk.shape[0], max(0, hold))) * 10 ** (-45 / 20)).astype(np.float32)
            for piece in (talk, noise):
                piece = piece[:, : total - written]
                for start in range(0, piece.shape[1], RATE * 10):
                    block = np.ascontiguousarray(piece[:, start:start + RATE * 10])
                    frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
                    frame.sample_rate = RATE
                    for packet in stream.encode(frame):
                        out.mux(packet)
                written += piece.shape[1]
            n += 1
        for packet in stream.encode(None):
            out.mux(packet)
    tmp.rename(path)
    return path


def measure(path: Path, window: str | None) -> dict:
    """``qa score PATH --json`` in a fresh process: peak RSS (GiB), wall seconds, words and windows."""
    env = {**os.environ, "QA_SETTLE_S": "0"}
    if window is not None:
        env["QA_AUDIO_WINDOW_S"] = window
    else:
        env.pop("QA_AUDIO_WINDOW_S", None)
    out = CACHE / f"{path.stem}-{'whole' if window == '0' else 'windows'}.json"  # kept: the words can be compared
    started = time.perf_counter()
    with out.open("w") as sink:
        child = subprocess.Popen([sys.executable, "-m", "qa.cli", "score", str(path), "--json"], cwd=REPO, env=env,
                                 stdout=sink, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    err = child.stderr.read() if child.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        return {"error": err.strip().splitlines()[-1] if err.strip() else f"exit {status}", "seconds": seconds,
                "peak_gib": usage.ru_maxrss / (1 << 20)}
    scored = json.loads(out.read_text(encoding="utf-8"))
    stats = scored["conversation"]["transcription"].get("stats", {})
    stretches: dict[int, list[str]] = {}
    for u in scored["utterances"]:
        stretches.setdefault(int(u["start_s"] // CYCLE_S), []).extend(_words(u["text"]))
    return {"peak_gib": usage.ru_maxrss / (1 << 20), "seconds": seconds, "words": stats.get("words"),
            "windows": stats.get("windows"), "duration_s": scored["conversation"]["duration_s"],
            "stretches": stretches}


def _words(text: str) -> list[str]:
    import re

    return re.sub(r"[^\w ]+", " ", text.lower().replace("ё", "е")).split()


def agreement(a: dict[int, list[str]], b: dict[int, list[str]]) -> float:
    """How alike two transcripts of the call are: the word sequences of each ten-minute stretch compared (the
    stretches repeat the same sample calls, so the whole call compared at once would align the wrong ones)."""
    import difflib

    same = total = 0
    for key in set(a) | set(b):
        x, y = a.get(key, []), b.get(key, [])
        matcher = difflib.SequenceMatcher(None, x, y, autojunk=False)
        same += sum(block.size for block in matcher.get_matching_blocks())
        total += max(len(x), len(y))
    return same / total if total else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--no-baseline", action="store_true", help="skip the whole-file runs (5 GiB for 3 h)")
    parser.add_argument("--mono", action="store_true", help="also the mono mixdown of each call")
    args = parser.parse_args()
    print(f"Budget: a call of any length transcribed in at most {TARGET_GIB:g} GiB peak resident memory of the whole "
          "`qa score` process (issue #22);\nREADME «Sizing a machine»: 1 GiB for the process + 400 MiB per call "
          "transcribed at once.")
    print(f"{'call':>11} {'mode':>8} {'peak GiB':>9} {'wall s':>7} {'windows':>7} {'words':>6}  budget")
    for hours in args.hours:
        for mono in (False, True) if args.mono else (False,):
            path = make_call(hours, mono)
            name = f"{hours:g}h {'mono' if mono else 'stereo'}"
            rows = [("windows", measure(path, None))]
            if not args.no_baseline:
                rows.append(("whole", measure(path, "0")))
            for mode, r in rows:
                verdict = "within" if r["peak_gib"] <= TARGET_GIB else "OVER"
                if "error" in r:
                    print(f"{name:>11} {mode:>8} {r['peak_gib']:>9.2f} {r['seconds']:>7.0f}  error: {r['error']}")
                    continue
                print(f"{name:>11} {mode:>8} {r['peak_gib']:>9.2f} {r['seconds']:>7.0f} {r['windows'] or 1:>7} "
                      f"{r['words']:>6}  {verdict}")
            if len(rows) == 2 and "stretches" in rows[0][1] and "stretches" in rows[1][1]:
                a, b = rows[0][1], rows[1][1]
                print(f"{name:>11}   peak ratio windows/whole {a['peak_gib'] / b['peak_gib']:.2f}; "
                      f"{agreement(a['stretches'], b['stretches']):.1%} of the words the same in both")


if __name__ == "__main__":
    main()
