"""Peak memory of one long mono call (default 120 minutes) through the transcriber: bounded, not growing with Whisper's
work (run: ``.venv/bin/python benchmarks/bench_long_mono.py [--minutes 120]``, ``make bench-long-mono``).

The call is the synthetic call's mono mixdown at 8 kHz (../shared/data/synthetic_call_ru) placed every
``--every`` minutes over quiet line noise, written as an A-law WAV like a PBX's. Prints the decoded size, the wall time,
the blocks decoded, the words and speakers found, and the process's peak resident memory (ru_maxrss) beside the peak
after loading the models alone. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
SHARED = Path(os.environ.get("QA_SHARED_DATA", REPO.parent / "shared" / "data"))


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_call(minutes: float, every: float, out: Path) -> Path:
    """A long A-law mono WAV: the synthetic call every ``every`` minutes over noise at -60 dBFS."""
    from qa.speech.audio import decode_audio

    stereo = decode_audio(SHARED / "synthetic_call_ru" / "call_stereo_8k.flac")
    call = ((stereo.channels[0] + stereo.channels[1]) / 2)[::2]  # 16 kHz → 8 kHz (already band-limited)
    rate, total = 8000, int(minutes * 60 * 8000)
    rng = np.random.default_rng(19)
    pcm = out.with_suffix(".pcm.wav")
    with wave.open(str(pcm), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        step = int(every * 60 * rate)
        for start in range(0, total, step):
            block = (rng.standard_normal(min(step, total - start)) * 0.001).astype(np.float32)
            block[: min(call.size, block.size)] += call[: block.size]
            w.writeframes((np.clip(block, -1, 1) * 32767).astype("<i2").tobytes())
    subprocess.run(["sox", str(pcm), "-e", "a-law", "-b", "8", str(out)], check=True)
    pcm.unlink()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120.0)
    parser.add_argument("--every", type=float, default=10.0, help="minutes between copies of the call")
    args = parser.parse_args()
    from qa.speech.diarize import get_encoder
    from qa.speech.transcribe import Transcriber, TranscriptionOptions

    transcriber = Transcriber(TranscriptionOptions(), ["Телеком Плюс", "Роспотребнадзор"])
    transcriber.settings()  # loads Whisper
    get_encoder()
    loaded = _peak_mib()
    with tempfile.TemporaryDirectory() as tmp:
        path = make_call(args.minutes, args.every, Path(tmp) / "long.wav")
        size = path.stat().st_size
        start = time.perf_counter()
        transcript = transcriber.transcribe(path, hints={"brands": ["Телеком Плюс"], "direction": "inbound"})
        wall = time.perf_counter() - start
    words = sum(len(u.words) for u in transcript.utterances)
    speakers = {}
    for u in transcript.utterances:
        speakers[u.speaker] = speakers.get(u.speaker, 0) + len(u.words)
    peak = _peak_mib()
    print(f"{args.minutes:g} min mono A-law call ({size / 1e6:.1f} MB), the call every {args.every:g} min: "
          f"{wall:.0f} s, blocks {transcript.stats.get('blocks', 1)}, words {words} {speakers}, attribution "
          f"{(transcript.stats.get('mono_attribution') or {}).get('method')}")
    print(f"peak memory (ru_maxrss): {peak:.0f} MiB; after loading the models {loaded:.0f} MiB; "
          f"decoded samples {args.minutes * 60 * 16000 * 4 / 2**20:.0f} MiB (float32, 16 kHz)")


if __name__ == "__main__":
    main()
