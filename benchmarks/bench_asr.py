"""Speed and accuracy of the transcription layer on this machine (run: .venv/bin/python benchmarks/bench_asr.py).

Prints, for the embedded Whisper model (or ``--model PATH``): real-time factor, CPU seconds per audio
second, peak memory, WER/CER against exact references, turn-speaker accuracy and pause recall on the
synthetic stereo call, silence checks, mono speaker attribution on a mixdown of the call (16 kHz and 8 kHz) with
what it costs (wall time with speakers ÷ without), and the overhead of our pipeline over bare faster-whisper. Data
comes from ``../shared/data`` (``QA_SHARED_DATA`` overrides). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.records import Utterance  # noqa: E402
from qa.speech.audio import DecodedAudio, decode_audio  # noqa: E402
from qa.speech.transcribe import Transcriber, TranscriptionOptions, cuda_available, transcribe_bare  # noqa: E402
from qa_eval.audio_metrics import edit_distance  # noqa: E402

SHARED = Path(os.environ.get("QA_SHARED_DATA", REPO.parent / "shared" / "data"))
CALL = SHARED / "synthetic_call_ru"
PAUSE_TOLERANCE_S = 0.5


def _fallback_normalize(text: str) -> str:
    """Lower case, ё→е, punctuation stripped (digits stay digits: qa.text.normalize is absent)."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower().replace("ё", "е")).split())


try:
    from qa.text.normalize import normalize_text as normalize
except ImportError:  # pragma: no cover - only before qa.text.normalize existed
    normalize = _fallback_normalize


def wer_cer(reference: str, hypothesis: str) -> tuple[float, float]:
    """Word and character error rates after normalisation."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    wer = edit_distance(ref.split(), hyp.split()) / max(1, len(ref.split()))
    cer = edit_distance(list(ref), list(hyp)) / max(1, len(ref))
    return wer, cer


def timed(function: Callable[[], object], repeats: int) -> tuple[object, float, float]:
    """(result, min wall seconds, CPU seconds of that run)."""
    best = (None, float("inf"), 0.0)
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if wall < best[1]:
            best = (result, wall, cpu)
    return best


def speaker_text(utterances: list[Utterance], speaker: str) -> str:
    return " ".join(u.text for u in utterances if u.speaker == speaker)


def turn_accuracy(truth: dict, utterances: list[Utterance]) -> tuple[int, int]:
    """Truth turns whose time-overlapping hypothesis utterances are mostly of the right speaker."""
    right = 0
    for turn in truth["turns"]:
        overlap: dict[str, float] = {}
        for u in utterances:
            shared = min(u.end, turn["end"]) - max(u.start, turn["start"])
            if shared > 0:
                overlap[u.speaker] = overlap.get(u.speaker, 0.0) + shared
        if overlap and max(overlap, key=overlap.get) == turn["speaker"]:
            right += 1
    return right, len(truth["turns"])


def pauses_found(truth: dict, utterances: list[Utterance]) -> tuple[int, int, list[str]]:
    """Truth pauses matched by a gap in all speech with both edges within ±0.5 s."""
    spans = sorted((w.start, w.end) for u in utterances for w in u.words)
    gaps, reach = [], 0.0
    for start, end in spans:
        if start - reach >= 1.0:
            gaps.append((reach, start))
        reach = max(reach, end)
    found, notes = 0, []
    for pause in truth["long_silences_ge3s"]:
        best = min(gaps, key=lambda g: abs(g[0] - pause["start"]) + abs(g[1] - pause["end"]), default=None)
        ok = best is not None and all(
            abs(a - b) <= PAUSE_TOLERANCE_S for a, b in zip(best, (pause["start"], pause["end"]), strict=True)
        )
        found += ok
        got = f"{best[0]:.2f}–{best[1]:.2f}" if best else "none"
        notes.append(f"{pause['start']:.2f}–{pause['end']:.2f} → {got}{'' if ok else ' MISSED'}")
    return found, len(truth["long_silences_ge3s"]), notes


def load_vocabulary(rules: Path) -> list[str]:
    """The ASR vocabulary of the rule set (company names and primed words)."""
    from qa.rules.ruleset import load_ruleset

    return load_ruleset(rules).asr_vocabulary()


def report_call(name: str, transcriber: Transcriber, path: Path, truth: dict, repeats: int) -> None:
    """Speed and accuracy of one stereo call."""
    audio_s = truth["duration"]
    transcript, wall, cpu = timed(lambda: transcriber.transcribe(path), repeats)
    u = transcript.utterances
    wer, cer = wer_cer(truth["full_text"], " ".join(x.text for x in u))
    wer_op, _ = wer_cer(truth["operator_text"], speaker_text(u, "operator"))
    wer_cl, _ = wer_cer(truth["client_text"], speaker_text(u, "client"))
    turns = turn_accuracy(truth, u)
    found, total, notes = pauses_found(truth, u)
    text = normalize(" ".join(x.text for x in u))
    print(f"\n[{name}] {path.relative_to(SHARED.parent.parent) if SHARED.parent.parent in path.parents else path}")
    print(
        f"  audio {audio_s:.1f} s, wall {wall:.2f} s → wall RTF {wall / audio_s:.3f} "
        f"({audio_s / wall:.1f}× real time), CPU s per audio s {cpu / audio_s:.3f}"
    )
    print(f"  WER {wer:.3f} (operator {wer_op:.3f}, client {wer_cl:.3f}), CER {cer:.3f}")
    print(f"  turn speakers {turns[0]}/{turns[1]}, pauses found {found}/{total} (±{PAUSE_TOLERANCE_S} s)")
    for note in notes:
        print(f"    pause {note}")
    vocab_hits = {term: normalize(term) in text for term in transcriber.vocabulary}
    print(f"  vocabulary in transcript: {vocab_hits}")
    print(f"  utterances {len(u)}, stats {json.dumps(transcript.stats, ensure_ascii=False)}")


def _mixdown(path: Path) -> DecodedAudio:
    stereo = decode_audio(path)
    mix = (stereo.channels[0] + stereo.channels[1]) / 2
    return DecodedAudio([mix], stereo.duration_s, stereo.source_sample_rate, 1)


def report_mono_mixdown(transcriber: Transcriber, plain: Transcriber, path: Path, truth: dict, repeats: int) -> None:
    """Speaker attribution on a mono mixdown of the stereo call, and what telling the voices apart costs: the wall
    time with attribution over the same transcription with every word ``unknown`` (min of ``repeats`` each)."""
    audio = _mixdown(path)
    hints = {"brands": list(transcriber.vocabulary[:1]), "direction": "inbound"}
    wall = bare_wall = float("inf")
    for _ in range(repeats):  # alternated, so that load on the machine falls on both alike
        transcript, once, _ = timed(lambda: transcriber.transcribe_audio(audio, path, "mixdown", hints=hints), 1)
        wall = min(wall, once)
        bare_wall = min(bare_wall, timed(lambda: plain.transcribe_audio(audio, path, "mixdown", hints=hints), 1)[1])
    turns = turn_accuracy(truth, transcript.utterances)
    wer, _ = wer_cer(truth["full_text"], " ".join(x.text for x in transcript.utterances))
    word_right = word_total = 0
    for u in transcript.utterances:
        for w in u.words:
            mid = (w.start + w.end) / 2
            turn = next((t for t in truth["turns"] if t["start"] - 0.3 <= mid <= t["end"] + 0.3), None)
            if turn:
                word_total += 1
                word_right += u.speaker == turn["speaker"]
    attribution = transcript.stats.get("mono_attribution") or {}
    print(
        f"\n[mono mixdown of the call, {audio.duration_s:.0f} s] attribution {attribution.get('method')} "
        f"(confidence {attribution.get('confidence')}, {attribution.get('reason') or 'two voices'}): "
        f"turn speakers {turns[0]}/{turns[1]}, words with the right speaker {word_right}/{word_total}, WER {wer:.3f}"
    )
    print(f"  diarization cost: {wall:.2f} s with speakers ÷ {bare_wall:.2f} s without = {wall / bare_wall:.3f} "
          f"(target ≤ 1.15; min of {repeats} runs each)")


def report_clip(transcriber: Transcriber, path: Path, reference: str | None) -> None:
    """One short clip: its text, and WER/CER when a reference exists (None means: expect silence)."""
    if not path.is_file():
        print(f"  {path.name}: absent, skipped")
        return
    transcript, wall, _cpu = timed(lambda: transcriber.transcribe(path), 1)
    text = " ".join(u.text for u in transcript.utterances)
    if reference is None:
        words = transcript.stats["words"]
        print(
            f"  {path.name}: {words} words {'OK' if words == 0 else 'NOT SILENT'} {text!r} "
            f"(dropped {transcript.stats['dropped_hallucinations']} inventions, "
            f"{transcript.stats['dropped_no_speech']} no-speech segments), {wall:.2f} s"
        )
        return
    wer, cer = wer_cer(reference, text)
    print(f"  {path.name}: WER {wer:.3f} CER {cer:.3f}  hyp {normalize(text)!r}  ref {normalize(reference)!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="local CTranslate2 model folder (default: embedded base)")
    parser.add_argument("--gpu", action="store_true", help="force CUDA (default: auto)")
    parser.add_argument("--cpu", action="store_true", help="force CPU")
    parser.add_argument("--beam-size", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None, help="0 = sequential pipeline")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--vocabulary", choices=["prompt", "hotwords", "none"], default=None)
    parser.add_argument("--compare-vocabulary", action="store_true", help="also run the call with each vocabulary mode")
    parser.add_argument("--rules", type=Path, default=REPO / "scripts_rules")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-bare", action="store_true")
    args = parser.parse_args()

    device = "cuda" if args.gpu else "cpu" if args.cpu else None
    options = TranscriptionOptions.from_env(
        model=args.model,
        device=device,
        beam_size=args.beam_size,
        batch_size=args.batch_size,
        cpu_threads=args.threads,
        use_vocabulary=args.vocabulary,
    )
    vocabulary = load_vocabulary(args.rules)
    transcriber = Transcriber(options, vocabulary)
    no_speakers = Transcriber(TranscriptionOptions(**{**options.as_dict(), "mono_speakers": "unknown"}), vocabulary)
    start = time.perf_counter()
    settings = transcriber.settings()
    load_s = time.perf_counter() - start
    print(
        f"device {settings['device']} (CUDA visible: {cuda_available()}), compute type "
        f"{settings['compute_type']}, model {settings['model_path']}, cpu threads {settings['cpu_threads']}, "
        f"batch size {settings['batch_size']}, beam {settings['beam_size']}, vocabulary "
        f"{settings['use_vocabulary']} {vocabulary}; model load {load_s:.2f} s"
    )
    if not CALL.is_dir():
        sys.exit(f"{CALL} absent: nothing to measure")
    truth = json.loads((CALL / "call_truth.json").read_text(encoding="utf-8"))
    stereo = CALL / "call_stereo.flac"
    report_call("stereo call 16 kHz", transcriber, stereo, truth, args.repeats)
    report_call("stereo call 8 kHz telephone band", transcriber, CALL / "call_stereo_8k.flac", truth, 1)

    if not args.skip_bare:
        ours = timed(lambda: transcriber.transcribe(stereo), args.repeats)[1]
        bare = timed(lambda: transcribe_bare(transcriber, stereo), args.repeats)[1]
        print(
            f"\n[overhead] pipeline {ours:.2f} s ÷ bare faster-whisper {bare:.2f} s = {ours / bare:.3f} "
            f"(target < 1.10; min of {args.repeats} runs each)"
        )

    report_mono_mixdown(transcriber, no_speakers, stereo, truth, args.repeats)
    report_mono_mixdown(transcriber, no_speakers, CALL / "call_stereo_8k.flac", truth, args.repeats)

    print("\n[real clips with exact references]")
    golos = SHARED / "golos_example"
    report_clip(
        transcriber,
        golos / "001ce26c07c20eaa0d666b824c6c6924.wav",
        json.loads((golos / "example1.json").read_text(encoding="utf-8"))["text"],
    )
    coqui = SHARED / "coqui_stt_ru_sample"
    reference = (coqui / "ru.csv").read_text(encoding="utf-8").splitlines()[1].split(",", 2)[2]
    report_clip(transcriber, coqui / "ru.wav", reference)
    report_clip(transcriber, SHARED / "pisets_testdata_ru" / "test_sound_ru.wav", "нейронные сети это хорошо")
    print("\n[non-speech: expect zero words]")
    report_clip(transcriber, SHARED / "pisets_testdata_ru" / "test_silence.wav", None)
    report_clip(transcriber, SHARED / "pisets_testdata_ru" / "silence.wav", None)
    report_clip(transcriber, REPO / "tests" / "fixtures" / "audio" / "silence_3s.flac", None)

    if args.compare_vocabulary:
        print("\n[vocabulary modes on the 16 kHz call]")
        for mode in ("none", "hotwords", "prompt"):
            other = Transcriber(TranscriptionOptions(**{**options.as_dict(), "use_vocabulary": mode}), vocabulary)
            report_call(f"vocabulary={mode}", other, stereo, truth, 1)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (ru_maxrss) {peak:.0f} MiB")


if __name__ == "__main__":
    main()
