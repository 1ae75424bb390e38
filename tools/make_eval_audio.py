"""Voice the evaluation calls (tests/fixtures/eval/calls.yml) with festival: one stereo 16 kHz master per call.

Run from the repository root: ``.venv/bin/python tools/make_eval_audio.py`` (``make samples`` runs it). Needs festival
with the Russian voice and sox (as tools/make_samples.py, whose synthesiser and layout it borrows). Left = operator,
right = client, each turn after its pause from the data; the turns of a mono item (speaker ``u``) alternate,
operator first. Written as small OGG Opus files to tests/fixtures/eval/audio/<id>.ogg with the truth of every turn
(speaker, start, end, text) in <id>.truth.json. The degraded copies a PBX would record (mono A-law WAV, MP3 32 kbit/s,
GSM 06.10, noisy stereo 8 kHz) are made from these masters by :mod:`qa_eval.degrade`.

Festival has one Russian voice, so the two speakers are sox transforms of it. Pitch must never tell the roles: the
operator is the higher voice in half the calls and the lower in the other half, and there are two pairs of
transforms (pitch, with tempo for the lower voice; pitch with tempo and a bass/treble timbre), taken in turn by call.
"""

from __future__ import annotations

import argparse
import json
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
TAIL_S = 1.0
# sox transforms of festival's one Russian voice
VOICES: dict[str, dict[str, Any]] = {
    "high": {"pitch_cents": 300},
    "low": {"pitch_cents": -200, "tempo": 1.08},
    "bright": {"pitch_cents": 150, "tempo": 0.95, "effects": ["treble", "+4", "bass", "-3"]},
    "deep": {"pitch_cents": -50, "tempo": 1.04, "effects": ["bass", "+5", "treble", "-3"]},
}
# (operator voice, client voice) by call number: the operator higher, lower, higher, lower…
PAIRS = (("high", "low"), ("low", "high"), ("bright", "deep"), ("deep", "bright"))


def voice_pair(index: int) -> tuple[str, str]:
    """The operator's and the client's voice of the ``index``-th call of the set."""
    return PAIRS[index % len(PAIRS)]


def turn_roles(item: EvalItem) -> list[str]:
    """Who says each turn: operator or client (a mono item's ``u`` turns alternate, operator first)."""
    roles = []
    for n, (speaker, _pause, _text) in enumerate(item.turns):
        roles.append({"o": "operator", "c": "client"}.get(speaker, "operator" if n % 2 == 0 else "client"))
    return roles


def _call(item: EvalItem, index: int) -> dict[str, Any]:
    op, cl = voice_pair(index)
    voice = {"operator": op, "client": cl}
    turns = [{"speaker": voice[role], "pause": pause, "text": text}
             for role, (_s, pause, text) in zip(turn_roles(item), item.turns, strict=True)]
    return {"channels": {"left": op, "right": cl}, "turns": turns, "tail_s": TAIL_S, "audio": f"{item.id}.ogg"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="only these calls")
    parser.add_argument("--work-dir", type=Path, help="keep synthesised utterances here (a cache)")
    args = parser.parse_args(argv)
    check_tools()
    config = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    calls = [i for i in load_eval_set(EVAL_DIR) if i.channel == "call"]
    AUDIO_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        synth = Synthesiser({**config, "speakers": VOICES}, work)
        for index, item in enumerate(calls):
            if args.ids and item.id not in args.ids:
                continue
            tracks, truth = lay_out_call(item.id, _call(item, index), synth)
            floats = [np.asarray(t, dtype=np.float32) / 32768.0 for t in tracks]
            (AUDIO_DIR / f"{item.id}.ogg").write_bytes(encode_audio(floats, synth.sample_rate))
            op, cl = voice_pair(index)
            roles = turn_roles(item)
            record = {"id": item.id, "duration": truth["duration"], "voices": {"operator": op, "client": cl},
                      "operator_higher": VOICES[op]["pitch_cents"] > VOICES[cl]["pitch_cents"],
                      "turns": [{"speaker": role, "start": round(t["start"], 3), "end": round(t["end"], 3),
                                 "text": t["text"]} for role, t in zip(roles, truth["turns"], strict=True)]}
            (AUDIO_DIR / f"{item.id}.truth.json").write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n",
                                                             encoding="utf-8")
            print(f"{item.id}: {truth['duration']:.1f} s, operator {op}, client {cl}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
