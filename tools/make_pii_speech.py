"""Synthesise the spoken-PII clips of tools/pii_speech.yml for the redaction benchmark.

Run from the repository root: ``.venv/bin/python tools/make_pii_speech.py``. Needs festival with the Russian
voice and sox (``apt-get install -y festival festvox-ru sox``); the product itself does not.

Each clip's ``say`` is synthesised by festival, normalised, sped up a little, trimmed of its silence and padded
with a short pause by sox, decoded with ``qa.speech.audio.decode_audio`` and written as small mono 16 kHz OGG Opus
with ``qa.speech.audio.encode_audio`` into ``tests/fixtures/pii_speech/<id>.ogg``. ``truth.json`` beside them lists
every clip with its text and the PII items that must not survive redaction of its transcript.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from make_samples import check_tools, run_tool  # noqa: E402  (tools/ is the script's folder)

from qa.speech.audio import decode_audio, encode_audio  # noqa: E402

DEFAULT_CONFIG = REPO / "tools" / "pii_speech.yml"
PAD_S = 0.2
TEMPO = 1.2  # festival's voice is slow; a little faster keeps the clips small and still natural
SIZE_LIMIT = 600_000


def synthesise(text: str, voice: str, rate: int, work_dir: Path, stem: str) -> Path:
    """A 16-bit mono WAV of ``text`` at ``rate``: festival, then sox (normalise, trim silence, pad)."""
    text_file = work_dir / f"{stem}.txt"
    raw = work_dir / f"{stem}.raw.wav"
    done = work_dir / f"{stem}.wav"
    text_file.write_text(text + "\n", encoding="utf-8")
    run_tool(["text2wave", "-eval", f"({voice})", str(text_file), "-o", str(raw)])
    trim = ["silence", "1", "0.02", "1%"]
    # leading and trailing silence cut; pauses inside longer than 0.3 s shortened to it
    inner = ["silence", "-l", "1", "0.02", "1%", "-1", "0.3", "1%"]
    run_tool(["sox", "-D", "-R", str(raw), "-b", "16", "-c", "1", str(done), "norm", "-1", "tempo", "-s", str(TEMPO),
          "rate", str(rate), *inner, "reverse", *trim, "reverse", "pad", str(PAD_S), str(PAD_S)])
    return done


def make_clip(clip: dict[str, Any], config: dict[str, Any], out_dir: Path, work_dir: Path) -> dict[str, Any]:
    """Write one clip's OGG Opus file; return its truth record."""
    rate = int(config["sample_rate"])
    wav = synthesise(clip["say"], config["festival_voice"], rate, work_dir, clip["id"])
    audio = decode_audio(wav)
    path = out_dir / f"{clip['id']}.ogg"
    path.write_bytes(encode_audio([audio.channels[0]], rate, "ogg"))
    items = []
    for item in clip["items"]:
        if ("digits" in item) == ("words" in item):
            sys.exit(f"make_pii_speech: {clip['id']}: each item has either digits or words: {item}")
        if "digits" in item and not str(item["digits"]).isdigit():
            sys.exit(f"make_pii_speech: {clip['id']}: digits must be digits: {item}")
        items.append({"kind": item["kind"], **({"digits": str(item["digits"])} if "digits" in item
                                               else {"words": [str(w) for w in item["words"]]})})
    return {"id": clip["id"], "file": path.name, "duration_s": round(audio.duration_s, 3), "text": clip["say"],
            "items": items}


def main(argv: list[str] | None = None) -> int:
    """Synthesise every clip (or only the named ones) and write truth.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--only", nargs="*", help="ids of the clips to make (truth.json keeps the others)")
    args = parser.parse_args(argv)

    check_tools()
    config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    out_dir = REPO / config["output_dir"]
    out_dir.mkdir(parents=True, exist_ok=True)
    truth_path = out_dir / "truth.json"
    previous = {}
    if args.only and truth_path.is_file():
        previous = {c["id"]: c for c in json.loads(truth_path.read_text(encoding="utf-8"))["clips"]}
    wanted = set(args.only or ())
    records = []
    with tempfile.TemporaryDirectory(prefix="make_pii_speech_") as tmp:
        for clip in config["clips"]:
            if wanted and clip["id"] not in wanted and clip["id"] in previous:
                records.append(previous[clip["id"]])
                continue
            record = make_clip(clip, config, out_dir, Path(tmp))
            size = (out_dir / record["file"]).stat().st_size
            print(f"{record['file']}: {record['duration_s']:.2f} s, {size} bytes")
            records.append(record)
    truth = {"sample_rate": int(config["sample_rate"]), "source": "tools/pii_speech.yml", "clips": records}
    truth_path.write_text(json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    total = sum((out_dir / r["file"]).stat().st_size for r in records)
    print(f"{len(records)} clips, {total} bytes in {out_dir.relative_to(REPO)}")
    if total > SIZE_LIMIT:
        print(f"make_pii_speech: warning: {total} bytes is over the {SIZE_LIMIT} byte budget", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
