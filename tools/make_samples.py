"""Generate the bundled Russian demo samples and test fixtures from tools/sample_dialogues.yml.

Run from the repository root: ``.venv/bin/python tools/make_samples.py``. Needs festival with the
Russian voice and sox (``apt-get install -y festival festvox-ru sox``); the product itself does not.

Every utterance is synthesised by festival, pitch-shifted for the operator with sox, normalised and
trimmed of its own silence, then laid out sample-exactly after its pause; the truth file records the
resulting start and end of every turn. Output is deterministic for a given dialogue file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import subprocess
import sys
import tempfile
import wave
from array import array
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "tools" / "sample_dialogues.yml"
INSTALL_HINT = "install them with: sudo apt-get install -y festival festvox-ru sox"
REQUIRED_TOOLS = ("text2wave", "sox")


def _program() -> str:
    """The name of the running generator (this one, or another tool that borrows these helpers)."""
    return Path(sys.argv[0]).stem or "make_samples"


def check_tools() -> None:
    """Exit with an install hint when festival's text2wave or sox is missing."""
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        sys.exit(f"{_program()}: missing {', '.join(missing)}; {INSTALL_HINT}")


def run_tool(cmd: list[str]) -> None:
    """Run text2wave or sox; exit with its error output when it fails."""
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"{_program()}: {' '.join(cmd)} failed:\n{result.stderr}")


def _read_wav(path: Path) -> tuple[array, int]:
    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            sys.exit(f"make_samples: {path}: expected 16-bit mono")
        samples = array("h", w.readframes(w.getnframes()))
        return samples, w.getframerate()


def _write_wav(path: Path, tracks: list[array], sample_rate: int) -> None:
    """Write 16-bit PCM, interleaving the tracks (all of the same length)."""
    n = len(tracks[0])
    if len(tracks) == 1:
        frames = tracks[0]
    else:
        frames = array("h", bytes(2 * n * len(tracks)))
        for c, track in enumerate(tracks):
            frames[c :: len(tracks)] = track
    with wave.open(str(path), "wb") as w:
        w.setnchannels(len(tracks))
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(frames.tobytes())


def trim(samples: array, sample_rate: int, threshold: float, window_s: float) -> array:
    """Cut the leading and trailing windows whose peak stays below ``threshold`` of full scale."""
    limit = threshold * 32768
    win = max(1, round(window_s * sample_rate))
    loud = [i for i in range(0, len(samples), win) if max(map(abs, samples[i : i + win])) > limit]
    if not loud:
        return array("h")
    first = loud[0]
    # refine to the first/last loud sample inside the edge windows
    while abs(samples[first]) <= limit:
        first += 1
    last = min(len(samples), loud[-1] + win) - 1
    while abs(samples[last]) <= limit:
        last -= 1
    return samples[first : last + 1]


class Synthesiser:
    """Synthesises one utterance per call, caching results by text and voice settings."""

    def __init__(self, config: dict[str, Any], work_dir: Path) -> None:
        self.config = config
        self.work_dir = work_dir
        self.sample_rate = int(config["sample_rate"])

    def utterance(self, text: str, speaker: str) -> array:
        """Return the trimmed 16-bit mono samples of ``text`` in ``speaker``'s voice."""
        voice = self.config["speakers"][speaker]
        key = json.dumps(
            [text, voice, self.config["festival_voice"], self.config["normalise_db"], self.sample_rate],
            ensure_ascii=False,
        )
        stem = hashlib.sha256(key.encode()).hexdigest()[:16]
        done = self.work_dir / f"{stem}.wav"
        if not done.exists():
            text_file = self.work_dir / f"{stem}.txt"
            raw = self.work_dir / f"{stem}.raw.wav"
            text_file.write_text(text + "\n", encoding="utf-8")
            voice_cmd = f"({self.config['festival_voice']})"
            run_tool(["text2wave", "-eval", voice_cmd, str(text_file), "-o", str(raw)])
            effects: list[str] = []
            if voice.get("pitch_cents"):
                effects += ["pitch", str(voice["pitch_cents"])]
            if voice.get("tempo"):
                effects += ["tempo", "-s", str(voice["tempo"])]
            effects += [str(e) for e in voice.get("effects", ())]  # e.g. ["bass", "+5"]: another voice colour
            effects += ["norm", str(self.config["normalise_db"]), "rate", str(self.sample_rate)]
            # -D: no dither, -R: repeatable; output stays 16-bit mono
            run_tool(["sox", "-D", "-R", str(raw), "-b", "16", "-c", "1", str(done), *effects])
        samples, rate = _read_wav(done)
        if rate != self.sample_rate:
            sys.exit(f"make_samples: {done}: sample rate {rate}, expected {self.sample_rate}")
        return trim(samples, rate, float(self.config["trim_threshold"]), float(self.config["trim_window_s"]))


def encode(tracks: list[array], sample_rate: int, out: Path, work_dir: Path) -> None:
    """Encode the tracks to ``out`` (FLAC, OGG Vorbis or WAV by its suffix) with sox."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = work_dir / f"_encode{len(tracks)}.wav"
    _write_wav(tmp, tracks, sample_rate)
    quality = {".flac": ["-C", "8"], ".ogg": ["-C", "4"], ".wav": []}[out.suffix]
    run_tool(["sox", "-D", "-R", str(tmp), *quality, str(out)])
    tmp.unlink()


def lay_out_call(name: str, call: dict[str, Any], synth: Synthesiser) -> tuple[list[array], dict[str, Any]]:
    """Place every turn after its pause; return the tracks and the truth record."""
    sr = synth.sample_rate
    channel_names = list(call["channels"])  # e.g. [left, right] or [mono]
    mono = channel_names == ["mono"]
    speaker_channel = {speaker: ch for ch, speaker in call["channels"].items()}
    pieces: list[tuple[str, int, array]] = []
    turns: list[dict[str, Any]] = []
    pauses: list[dict[str, Any]] = []
    cursor = 0
    lead_in = 0.0
    for i, turn in enumerate(call["turns"]):
        # `say` respells the text for the synthesiser only; the truth keeps `text`
        samples = synth.utterance(turn.get("say", turn["text"]), turn["speaker"])
        if not samples:
            sys.exit(f"make_samples: {name} turn {i}: festival produced no sound for {turn['text']!r}")
        gap = round(float(turn["pause"]) * sr)
        start = cursor + gap
        end = start + len(samples)
        channel = "mono" if mono else speaker_channel[turn["speaker"]]
        if i == 0:
            lead_in = start / sr
        else:
            pauses.append({"before_turn": i, "start": cursor / sr, "end": start / sr, "duration": gap / sr})
        pieces.append((channel, start, samples))
        turns.append(
            {
                "turn": i,
                "speaker": turn["speaker"],
                "channel": channel,
                "start": start / sr,
                "end": end / sr,
                "text": turn["text"],
            }
        )
        cursor = end
    total = cursor + round(float(call["tail_s"]) * sr)
    tracks = {ch: array("h", bytes(2 * total)) for ch in channel_names}
    for channel, start, samples in pieces:
        tracks[channel][start : start + len(samples)] = samples
    truth = {
        "name": name,
        "audio": call["audio"],
        "sample_rate": sr,
        "channels": len(channel_names),
        "channel_map": dict(call["channels"]),
        "duration": total / sr,
        "lead_in": lead_in,
        "tail": (total - cursor) / sr,
        "turns": turns,
        "pauses": pauses,
        "key_phrases": list(call.get("key_phrases", [])),
    }
    return [tracks[ch] for ch in channel_names], truth


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def make_call(name: str, call: dict[str, Any], synth: Synthesiser, root: Path) -> dict[str, Any]:
    """Write one call's audio, truth file and (when configured) sidecar; return the truth."""
    tracks, truth = lay_out_call(name, call, synth)
    encode(tracks, synth.sample_rate, root / call["audio"], synth.work_dir)
    _write_json(root / call["truth"], truth)
    if call.get("sidecar"):
        meta = dict(call["metadata"])
        sidecar = {key: meta.pop(key) for key in ("id", "operator_id", "team", "started_at", "direction")}
        sidecar["channels"] = dict(call["channels"])
        sidecar.update(meta)
        _write_json(root / call["sidecar"], sidecar)
    return truth


def make_special(fixture: dict[str, Any], sample_rate: int, root: Path, work_dir: Path) -> None:
    """Write a fixture without speech: digital silence, an empty WAV or corrupt bytes."""
    path = root / fixture["path"]
    path.parent.mkdir(parents=True, exist_ok=True)
    kind = fixture["kind"]
    if kind == "silence":
        n = round(float(fixture["seconds"]) * sample_rate)
        tracks = [array("h", bytes(2 * n)) for _ in range(int(fixture["channels"]))]
        encode(tracks, sample_rate, path, work_dir)
    elif kind == "empty_wav":
        _write_wav(path, [array("h") for _ in range(int(fixture["channels"]))], sample_rate)
    elif kind == "corrupt":
        rng = random.Random(int(fixture["seed"]))
        # a FLAC signature followed by garbage: looks like FLAC, decodes as nothing
        path.write_bytes(b"fLaC" + bytes(rng.getrandbits(8) for _ in range(int(fixture["bytes"]) - 4)))
    else:
        sys.exit(f"make_samples: unknown special fixture kind {kind!r}")


def _iso(started_at: str, seconds: float) -> str:
    return (datetime.fromisoformat(started_at) + timedelta(seconds=seconds)).isoformat()


def make_chat(chat: dict[str, Any], root: Path) -> None:
    """Write one chat file, turning each message's ``at_s`` into an ISO 8601 time."""
    messages = [
        {"at": _iso(chat["started_at"], float(m["at_s"])), "role": m["role"], "text": m["text"]}
        for m in chat["messages"]
    ]
    out = {"id": chat["id"], "operator_id": chat["operator_id"], "team": chat["team"], "messages": messages}
    _write_json(root / chat["path"], out)


def make_transcript(transcript: dict[str, Any], root: Path) -> None:
    """Write one external-ASR transcript file as given."""
    keys = ("id", "operator_id", "team", "turns")
    _write_json(root / transcript["path"], {key: transcript[key] for key in keys})


def main(argv: list[str] | None = None) -> int:
    """Generate everything the dialogue file describes (or only the named items)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--root", type=Path, default=REPO, help="repository root the paths are relative to")
    parser.add_argument("--work-dir", type=Path, help="keep synthesised utterances here (a cache)")
    parser.add_argument("--only", nargs="*", help="names of calls/chats/transcripts to make")
    args = parser.parse_args(argv)

    config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    wanted = set(args.only) if args.only else None
    with tempfile.TemporaryDirectory(prefix="make_samples_") as tmp:
        work_dir = args.work_dir or Path(tmp)
        work_dir.mkdir(parents=True, exist_ok=True)
        calls = {n: c for n, c in config["calls"].items() if wanted is None or n in wanted}
        if calls:
            check_tools()
        synth = Synthesiser(config, work_dir)
        for name, call in calls.items():
            truth = make_call(name, call, synth, args.root)
            size = (args.root / call["audio"]).stat().st_size
            print(f"{call['audio']}: {truth['duration']:.2f} s, {len(truth['turns'])} turns, {size} bytes")
        if wanted is None:
            for fixture in config.get("special_fixtures", []):
                make_special(fixture, int(config["sample_rate"]), args.root, work_dir)
                print(fixture["path"])
        for name, chat in config.get("chats", {}).items():
            if wanted is None or name in wanted:
                make_chat(chat, args.root)
                print(chat["path"])
        for name, transcript in config.get("transcripts", {}).items():
            if wanted is None or name in wanted:
                make_transcript(transcript, args.root)
                print(transcript["path"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
