"""Which speaker embedding tells the two voices of a mono call apart (run: ``.venv/bin/python
benchmarks/bench_speakers.py [--condition alaw] [--halves tune]``).

On the voiced evaluation calls (degraded as a PBX records them, :mod:`qa_eval.degrade`), the product's windows over
the voice activity are embedded two ways and split in two by the same cosine k-means: Resemblyzer's GE2E encoder (the
product's) and a baseline of log-mel statistics (mean and standard deviation of 40 log-mel bands per window, the
classic i-vector-free baseline). Prints per method the share of windows in the right cluster (against the voiced
truth, the better of the two labelings per call), the calls where the voices were told apart at ≥ 90%, and the CPU
seconds per minute of voice. No Whisper runs; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qa.speech.audio import decode_audio  # noqa: E402
from qa.speech.diarize.encoder import get_encoder  # noqa: E402
from qa.speech.diarize.voices import _mels_of, _windows, embed_windows, two_means  # noqa: E402
from qa.speech.transcribe.vad import voice_regions  # noqa: E402
from qa_eval.degrade import degraded_copy  # noqa: E402
from qa_eval.evalset import load_eval_set  # noqa: E402

EVAL = REPO / "tests" / "fixtures" / "eval"
DEGRADED = REPO / "data" / "cache" / "eval_audio"


def log_mel_stats(samples: np.ndarray, windows: list[tuple[float, float]]) -> np.ndarray:
    """Mean and standard deviation of the log-mel bands of each window (80 values)."""
    mels = np.log(_mels_of(samples, windows) + 1e-6)
    stats = np.concatenate([mels.mean(axis=1), mels.std(axis=1)], axis=1)
    return stats - stats.mean(axis=0)  # centred, so cosine compares the windows with each other


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--condition", default="alaw")
    parser.add_argument("--halves", default="tune")
    args = parser.parse_args()
    encoder = get_encoder()
    methods = {"GE2E (Resemblyzer, numpy)": lambda s, w: embed_windows(s, w, encoder),
               "log-mel mean+std baseline": log_mel_stats}
    totals = {m: [0, 0, 0, 0.0] for m in methods}  # right windows, windows, calls ≥ 0.9, cpu s
    voice_s = 0.0
    calls = 0
    for item in load_eval_set(EVAL):
        if item.channel != "call" or item.half not in args.halves.split(","):
            continue
        truth = json.loads((EVAL / "audio" / f"{item.id}.truth.json").read_text(encoding="utf-8"))
        path = degraded_copy(EVAL / "audio" / f"{item.id}.ogg", args.condition, DEGRADED)
        audio = decode_audio(path)
        samples = audio.channels[0] if len(audio.channels) == 1 else audio.channels[0] + audio.channels[1]
        windows = _windows(voice_regions(samples, True), samples.size / 16000)
        voice_s += sum(b - a for a, b in windows)
        gold = []
        for a, b in windows:
            mid = (a + b) / 2
            turn = min(truth["turns"], key=lambda t: 0 if t["start"] <= mid <= t["end"] else
                       min(abs(mid - t["start"]), abs(mid - t["end"])))
            gold.append(turn["speaker"] == "operator")
        gold_arr = np.array(gold)
        calls += 1
        for name, embed in methods.items():
            start = time.process_time()
            labels, _ = two_means(embed(samples, windows))
            totals[name][3] += time.process_time() - start
            right = max(int((labels.astype(bool) == gold_arr).sum()), int((labels.astype(bool) != gold_arr).sum()))
            totals[name][0] += right
            totals[name][1] += len(windows)
            totals[name][2] += right / max(1, len(windows)) >= 0.9
    print(f"{calls} calls ({args.halves}), condition {args.condition}, {voice_s / 60:.1f} min of windows")
    for name, (right, total, good, cpu) in totals.items():
        print(f"  {name:<28} windows in the right cluster {right}/{total} = {right / max(1, total):.3f}; "
              f"calls ≥ 0.9: {good}/{calls}; CPU {cpu / max(1e-9, voice_s / 60):.2f} s per minute of windows")


if __name__ == "__main__":
    main()
