"""Call timing against truth, ours beside two energy-based peers (run: make bench-timing).

For each call with a truth file — the synthetic call (16 kHz and its 8 kHz telephone copy,
``../shared/data/synthetic_call_ru``), ``data/samples/call_stopwords.flac`` and the overtalk fixtures
of ``tools/make_overlap_fixtures.py`` — prints per metric our error and the error of ``hotato`` 1.20.0
and ``call-ai-metrics`` 0.1.0. Each peer is installed by this script into its own venv under
``.bench-venvs/`` (git-ignored) and run there on a 16 kHz WAV of the call (``benchmarks/peer_timeline.py``);
its speech timeline is scored by the same definitions as ours (:mod:`qa_eval.timing_truth`). Ours: the
embedded Whisper model with the default options, talk and gaps from the stored Silero voice regions.
``call_truth.json`` keeps the synthesiser's ~0.2 s of silence inside both ends of every turn, so the
synthetic call is also scored against its truth trimmed to the signal (``trim_to_signal``, the same
trim ``tools/make_samples.py`` applies to the samples' truth). Figures are printed, never asserted.
``--no-peers`` skips the peers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.records import Conversation  # noqa: E402
from qa.speech.audio import decode_audio, encode_audio  # noqa: E402
from qa.speech.transcribe import Transcriber, TranscriptionOptions  # noqa: E402
from qa_eval.timing_truth import TimingErrors, compare, load_truth, timeline_conversation, trim_to_signal  # noqa: E402

SHARED = Path(os.environ.get("QA_SHARED_DATA", REPO.parent / "shared" / "data"))
CALL = SHARED / "synthetic_call_ru"
VENVS = REPO / ".bench-venvs"
CACHE = REPO / ".bench-cache" / "timing"
PEERS = {"hotato": "hotato==1.20.0", "call-ai-metrics": "call-ai-metrics==0.1.0"}
CASES = [
    ("synthetic 16k", CALL / "call_stereo.flac", CALL / "call_truth.json", 16),
    ("synthetic 8k", CALL / "call_stereo_8k.flac", CALL / "call_truth.json", 8),
    ("call_stopwords", REPO / "data/samples/call_stopwords.flac",
     REPO / "tests/fixtures/truth/call_stopwords.json", 16),
    ("overlap 1.5 s", REPO / "tests/fixtures/audio/overlap_shift1500.ogg",
     REPO / "tests/fixtures/truth/overlap_shift1500.json", 16),
    ("overlap 2.5 s", REPO / "tests/fixtures/audio/overlap_shift2500.ogg",
     REPO / "tests/fixtures/truth/overlap_shift2500.json", 16),
]
TARGETS = ("targets: talk ≤ 3 %, share ≤ 0.5 pp, reply ≤ 0.15 s (16 kHz) / 0.3 s (8 kHz), overtalk ≤ 0.2 s, "
           "no false dead air")


def peer_python(name: str) -> Path:
    """The peer's venv interpreter, creating the venv and installing the pinned wheel once."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", PEERS[name]], check=True)
    return python


def ours(transcriber: Transcriber, audio_path: Path) -> Conversation:
    transcript = transcriber.transcribe(audio_path, cache_dir=CACHE)
    return Conversation(conversation_id=audio_path.stem, channel="call", source_path=str(audio_path),
                        content_sha256=transcript.audio_sha256, utterances=transcript.utterances,
                        duration_s=transcript.duration_s, transcription={"stats": transcript.stats})


def peer(name: str, audio_path: Path, duration: float) -> Conversation:
    wav = VENVS / "wav" / f"{audio_path.stem}.wav"
    if not wav.exists():
        wav.parent.mkdir(parents=True, exist_ok=True)
        audio = decode_audio(audio_path)
        wav.write_bytes(encode_audio(audio.channels[:2], audio.sample_rate, "wav"))
    out = subprocess.run([str(peer_python(name)), str(REPO / "benchmarks/peer_timeline.py"), name, str(wav)],
                         check=True, capture_output=True, text=True)
    return timeline_conversation([tuple(s) for s in json.loads(out.stdout)["segments"]], duration)


def _f(value: float | None, fmt: str = "{:.2f}") -> str:
    return "—" if value is None else fmt.format(value)


def rows(e: TimingErrors) -> dict[str, str]:
    """One column of the table: the errors of one tool on one call."""
    return {
        "operator talk, % off": _f(e.talk_rel.get("operator", 0) * 100, "{:.1f}"),
        "client talk, % off": _f(e.talk_rel.get("client", 0) * 100, "{:.1f}"),
        "operator share, pp off": _f(e.share_pp),
        "client→operator reply, mean |err| s": _f(e.reply_mean("operator")),
        "client→operator reply, max |err| s": _f(e.reply_max("operator")),
        "operator→client reply, mean |err| s": _f(e.reply_mean("client")),
        "operator→client reply, max |err| s": _f(e.reply_max("client")),
        "replies missed (op/cl)": f"{e.replies_missed['operator']}/{e.replies_missed['client']}",
        "overtalk |err| s": _f(e.overtalk_s),
        "dead air ≥8 s false/missed": f"{e.dead_air_false}/{e.dead_air_missed}",
        "dead air edge max err s": _f(e.dead_air_edge_s),
        "gaps ≥3 s false": str(e.short_gap_false),
        "gaps ≥3 s edge max err s": _f(e.short_gap_edge_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-peers", action="store_true", help="measure only ours")
    args = parser.parse_args()
    transcriber = Transcriber(TranscriptionOptions.from_env())
    print(TARGETS)
    for label, audio_path, truth_path, khz in CASES:
        if not audio_path.exists() or not truth_path.exists():
            print(f"\n{label}: skipped ({audio_path} or its truth is absent)")
            continue
        truths = {"truth file": load_truth(truth_path)}
        if truth_path.parent == CALL:  # the 16 kHz original's signal trims the truth of both copies
            signal = decode_audio(CALL / "call_stereo.flac")
            truths["truth trimmed to the signal"] = trim_to_signal(
                truths["truth file"], {"operator": signal.channels[0], "client": signal.channels[1]})
        duration = truths["truth file"].duration_s or 0.0
        timelines = {"ours": ours(transcriber, audio_path)}
        if not args.no_peers:
            for name in PEERS:
                try:
                    timelines[name] = peer(name, audio_path, duration)
                except (subprocess.CalledProcessError, OSError, ValueError) as exc:
                    print(f"{label}: {name} failed: {getattr(exc, 'stderr', '') or exc}")
        for against, truth in truths.items():
            columns = {name: rows(compare(conv, truth)) for name, conv in timelines.items()}
            print(f"\n{label} ({khz} kHz): {audio_path.relative_to(audio_path.parents[1])}, against the {against}")
            print(f"{'metric':40s}" + "".join(f"{n:>17s}" for n in columns))
            for metric in columns["ours"]:
                print(f"{metric:40s}" + "".join(f"{columns[n][metric]:>17s}" for n in columns))


if __name__ == "__main__":
    main()
