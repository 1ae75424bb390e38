"""Transcribe the generated samples with the embedded Whisper base model and compare with the truth.

Run from the repository root: ``.venv/bin/python tools/check_samples.py [NAME ...]``. For every truth
file in tests/fixtures/truth/ (or the named ones) each channel is transcribed separately, recognised
words are assigned to the truth turn they fall in, and the script prints truth vs recognised text per
turn, the word error rate per call and whether each key phrase was recognised. Exit status 1 when a
key phrase is missing. A development check (the tests do not run it) with the project's own decoder
and transcriber.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from qa.run.environment import apply_defaults
from qa.speech.audio import decode_audio
from qa.speech.transcribe import Transcriber, TranscriptionOptions
from qa.speech.whisper_model import EMBEDDED_SHA256, file_sha256_hex, prepare_embedded_model

REPO = Path(__file__).resolve().parent.parent
TRUTH_DIR = REPO / "tests" / "fixtures" / "truth"


def load_transcriber(terms: list[str], use_vocabulary: str = "hotwords") -> Transcriber:
    """The embedded Whisper base model (parts joined, sha256 checked), int8 on 2 CPU threads,
    language ru, VAD on, word timestamps, decoded chunk by chunk."""
    folder = prepare_embedded_model()
    digest = file_sha256_hex(folder / "model.bin")
    if digest != EMBEDDED_SHA256:
        sys.exit(f"check_samples: {folder}/model.bin has sha256 {digest}, expected {EMBEDDED_SHA256}")
    options = TranscriptionOptions(
        model=str(folder),
        device="cpu",
        compute_type="int8",
        cpu_threads=2,
        batch_size=0,
        language="ru",
        vad_filter=True,
        use_vocabulary=use_vocabulary,
    )
    return Transcriber(options, vocabulary=terms)


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


def transcribe_channels(transcriber: Transcriber, path: Path) -> list[tuple[str, Any]]:
    """Return (channel, word) pairs for every channel of the file, each channel transcribed alone."""
    audio = decode_audio(path)
    names = ["left", "right"] if len(audio.channels) == 2 else ["mono"]
    words = []
    for channel, samples in zip(names, audio.channels, strict=True):
        segments = transcriber.run_whisper(samples)
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


def check(transcriber: Transcriber, truth_path: Path) -> dict[str, Any]:
    """Transcribe one truth file's audio, print the comparison and return the figures."""
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    words = transcribe_channels(transcriber, REPO / truth["audio"])
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
    marks = ", ".join(f"{p}={'ok' if ok else 'MISSING'}" for p, ok in found.items())
    print(f"  WER {wer:.3f}; key phrases: {marks}")
    return {"name": truth["name"], "wer": round(wer, 3), "key_phrases": found, "stray_words": stray}


def main(argv: list[str] | None = None) -> int:
    """Check every truth file (or the named ones); exit 1 when a key phrase was not recognised."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="truth file names without .json (default: all)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--term", action="append", default=[], help="a name the model may not know (repeatable)")
    parser.add_argument(
        "--terms-as", choices=["hotwords", "prompt"], default="hotwords", help="how --term reaches Whisper"
    )
    args = parser.parse_args(argv)
    paths = [TRUTH_DIR / f"{n}.json" for n in args.names] or sorted(TRUTH_DIR.glob("*.json"))
    apply_defaults()  # offline: nothing is downloaded
    transcriber = load_transcriber(args.term, args.terms_as)
    results = [check(transcriber, p) for p in paths]
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    missing = [(r["name"], p) for r in results for p, ok in r["key_phrases"].items() if not ok]
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
