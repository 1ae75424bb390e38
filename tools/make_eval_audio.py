"""Voice the evaluation calls (tests/fixtures/eval/calls.yml) with festival: stereo 16 kHz and an 8 kHz copy.

Run from the repository root: ``.venv/bin/python tools/make_eval_audio.py``. Needs festival with the Russian
voice and sox (as tools/make_samples.py, whose synthesiser and layout it borrows). Left = operator, right =
client, each turn after its pause from the data; a mono call is one channel. Written as small OGG Opus files to
tests/fixtures/eval/audio/<id>.ogg and <id>.8k.ogg; the bench reads them with ``channels`` from
:func:`channel_map`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from make_samples import DEFAULT_CONFIG, REPO, Synthesiser, check_tools, lay_out_call

from qa.speech.audio import encode_audio
from qa_eval.evalset import EvalItem, load_eval_set

EVAL_DIR = REPO / "tests" / "fixtures" / "eval"
AUDIO_DIR = EVAL_DIR / "audio"
TELEPHONE_RATE = 8000
TAIL_S = 1.0


def channel_map(item: EvalItem) -> dict[str, str]:
    """The channel → speaker mapping of a voiced call."""
    return {"mono": "unknown"} if item.mono else {"left": "operator", "right": "client"}


def _call(item: EvalItem) -> dict[str, Any]:
    turns = []
    for n, (speaker, pause, text) in enumerate(item.turns):
        voice = {"o": "operator", "c": "client"}.get(speaker, "operator" if n % 2 == 0 else "client")
        turns.append({"speaker": voice, "pause": pause, "text": text})
    channels = {"mono": "unknown"} if item.mono else {"left": "operator", "right": "client"}
    return {"channels": channels, "turns": turns, "tail_s": TAIL_S, "audio": f"{item.id}.ogg"}


def _resample(track: np.ndarray, rate: int, to: int) -> np.ndarray:
    """Plain linear resampling (the encoder band-limits; enough for a telephone-rate copy)."""
    n = int(len(track) * to / rate)
    return np.interp(np.arange(n) * rate / to, np.arange(len(track)), track).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="only these calls")
    args = parser.parse_args(argv)
    check_tools()
    config = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    items = [i for i in load_eval_set(EVAL_DIR) if i.channel == "call" and (not args.ids or i.id in args.ids)]
    AUDIO_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        synth = Synthesiser({**config, "speakers": config["speakers"]}, Path(work))
        for item in items:
            tracks, _ = lay_out_call(item.id, _call(item), synth)
            floats = [np.asarray(t, dtype=np.float32) / 32768.0 for t in tracks]
            (AUDIO_DIR / f"{item.id}.ogg").write_bytes(encode_audio(floats, synth.sample_rate))
            low = [_resample(f, synth.sample_rate, TELEPHONE_RATE) for f in floats]
            (AUDIO_DIR / f"{item.id}.8k.ogg").write_bytes(encode_audio(low, TELEPHONE_RATE))
            print(f"{item.id}: {len(tracks[0]) / synth.sample_rate:.1f} s, {len(tracks)} channel(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
