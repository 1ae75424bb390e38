"""Overtalk fixtures: the synthetic call with the client channel moved earlier, so turns overlap by known amounts.

Reads ``../shared/data/synthetic_call_ru/call_stereo.flac`` and its ``call_truth.json``, keeps the first
``KEEP_S`` seconds, shifts the client (right) channel ``shift`` seconds earlier (digital silence fills the
end), trims each truth turn to its signal (the source truth keeps the synthesiser's ~0.2 s of
silence at both ends; ``qa_eval.timing_truth.trim_to_signal``) and writes
``tests/fixtures/audio/overlap_shift<ms>.ogg`` with the shifted truth turns beside it in
``tests/fixtures/truth/overlap_shift<ms>.json`` (same turn format as ``call_truth.json``, plus the
expected overlaps). The TTS call has digital silence between turns, so the shifted turns stay exact.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # qa_eval, beside qa

from qa.speech.audio import TARGET_RATE, decode_audio, encode_audio
from qa_eval.timing_truth import load_truth, trim_to_signal

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "synthetic_call_ru"
KEEP_S = 61.5
SHIFTS_S = (1.5, 2.5)


def overlaps(turns: list[dict]) -> list[dict]:
    """Overlaps between operator and client turns, in time order."""
    out = []
    for a in turns:
        for b in turns:
            if a["speaker"] == "operator" and b["speaker"] == "client":
                lo, hi = max(a["start"], b["start"]), min(a["end"], b["end"])
                if hi > lo:
                    out.append({"start": round(lo, 3), "end": round(hi, 3), "duration": round(hi - lo, 3)})
    return sorted(out, key=lambda o: o["start"])


def make(shift: float) -> None:
    audio = decode_audio(SOURCE / "call_stereo.flac")
    exact = trim_to_signal(load_truth(SOURCE / "call_truth.json"),
                           {"operator": audio.channels[0], "client": audio.channels[1]})
    n = int(KEEP_S * TARGET_RATE)
    left = audio.channels[0][:n]
    k = round(shift * TARGET_RATE)
    right = np.concatenate([audio.channels[1][k:n], np.zeros(k, dtype=np.float32)])
    turns = []
    for k, t in enumerate(exact.utterances):
        moved = shift if t.speaker == "client" else 0.0
        start, end = round(t.start - moved, 3), round(t.end - moved, 3)
        if end <= KEEP_S:
            turns.append({"turn": k, "speaker": t.speaker, "start": start, "end": end, "text": t.text})
    name = f"overlap_shift{int(shift * 1000)}"
    (ROOT / "tests/fixtures/audio" / f"{name}.ogg").write_bytes(encode_audio([left, right], TARGET_RATE, "ogg"))
    record = {
        "name": name,
        "audio": f"tests/fixtures/audio/{name}.ogg",
        "made_by": "tools/make_overlap_fixtures.py",
        "source": "../shared/data/synthetic_call_ru/call_stereo.flac",
        "client_shift_s": -shift,
        "duration": KEEP_S,
        "channel_map": {"left": "operator", "right": "client"},
        "turns": turns,
        "overlaps": overlaps(turns),
    }
    (ROOT / "tests/fixtures/truth" / f"{name}.json").write_text(
        json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(name, "overlaps:", record["overlaps"])


if __name__ == "__main__":
    for s in SHIFTS_S:
        make(s)
