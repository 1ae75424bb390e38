"""Long calls are decoded block by block and transcribed in windows cut at quiet moments, so memory stays bounded
(`make bench-memory` measures it); a call no longer than a window is transcribed exactly as before."""

from __future__ import annotations

import itertools
import wave
from pathlib import Path

import numpy as np
import pytest

from qa.speech.audio import TARGET_RATE, AudioStream, decode_audio
from qa.speech.transcribe import TranscriptionOptions, get_transcriber
from qa.speech.transcribe.windows import (
    SEARCH_S,
    WINDOW_BATCH,
    gather,
    quietest_cut,
    window_batch_size,
    window_seconds,
    windows,
)

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def blocks_of(samples: np.ndarray, size: int = 4096):
    for start in range(0, samples.shape[1], size):
        yield samples[:, start:start + size]


def test_windows_cover_every_sample_once_and_cut_where_it_is_quiet():
    rng = np.random.default_rng(1)
    seconds = 400
    loud = (rng.standard_normal((2, seconds * TARGET_RATE)) * 0.3).astype(np.float32)
    for quiet_at in (95.0, 195.0, 290.0):  # one quiet moment near each window's end
        a = int(quiet_at * TARGET_RATE)
        loud[:, a:a + TARGET_RATE // 5] = 0.0
    first, whole = gather(blocks_of(loud), 100.0)
    assert not whole
    rest = blocks_of(loud[:, sum(b.shape[1] for b in first):])
    parts = list(windows(first, rest, 100.0))
    offsets = [offset for offset, _ in parts]
    joined = np.concatenate([part for _, part in parts], axis=1)
    assert np.array_equal(joined, loud)  # no sample lost, none twice
    assert [offset + part.shape[1] for offset, part in parts[:-1]] == offsets[1:]
    cuts = [o / TARGET_RATE for o in offsets[1:]]
    assert len(cuts) == 3 and all(q <= c <= q + 0.2 for c, q in zip(cuts, (95.0, 195.0, 290.0), strict=True))
    assert all(b - a <= 100.0 + SEARCH_S for a, b in zip([0.0, *cuts], [*cuts, seconds], strict=True))


def test_a_call_no_longer_than_a_window_comes_back_whole():
    short = np.zeros((2, 90 * TARGET_RATE), dtype=np.float32)
    first, whole = gather(blocks_of(short), 60.0)  # 90 s <= 60 s window + 30 s search
    assert whole and sum(b.shape[1] for b in first) == short.shape[1]
    assert quietest_cut(short, 0, 10) == 10  # less than a frame to look at: cut at the end


def test_the_window_setting(monkeypatch):
    monkeypatch.delenv("QA_AUDIO_WINDOW_S", raising=False)
    assert window_seconds() == 600.0
    monkeypatch.setenv("QA_AUDIO_WINDOW_S", "0")
    assert window_seconds() == 0
    monkeypatch.setenv("QA_AUDIO_WINDOW_S", "10")
    with pytest.raises(ValueError, match="at least 60"):
        window_seconds()


@pytest.mark.parametrize(("batch", "device", "used"), [
    (8, "cpu", WINDOW_BATCH), (16, "cuda", 16), (0, "cpu", 0), (1, "cpu", 1), (WINDOW_BATCH + 1, "cpu", WINDOW_BATCH)])
def test_a_long_calls_windows_are_decoded_with_a_small_batch_on_a_cpu(batch, device, used):
    """The batch is what a window's memory is made of (the encoder's attention for each chunk in it); a GPU's memory
    is not the process's, and the sequential pipeline (0) stays sequential."""
    assert window_batch_size(batch, device) == used


def test_the_stream_gives_the_same_samples_as_a_whole_decode():
    path = SAMPLES / "call_stopwords.flac"
    with AudioStream(path) as stream:
        pieces = list(stream.blocks())
    whole = decode_audio(path)
    assert np.array_equal(np.concatenate(pieces, axis=1), np.stack(whole.channels))
    assert stream.samples == len(whole.channels[0]) and stream.declared_s == pytest.approx(whole.duration_s, abs=0.01)


@pytest.mark.slow
def test_a_call_longer_than_a_window_is_transcribed_window_by_window(tmp_path, monkeypatch):
    """Two sample calls back to back (~1 min 47 s) with 60 s windows: two windows, the words and voice regions of
    the second shifted to where they are in the call, nothing said twice around the cut."""
    first, second = (decode_audio(SAMPLES / name) for name in ("call_compliant.flac", "call_stopwords.flac"))
    stereo = np.concatenate([np.stack(first.channels), np.stack(second.channels)], axis=1)
    path = tmp_path / "two_calls.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(TARGET_RATE)
        out.writeframes((np.clip(stereo.T, -1, 1) * 32767).astype("<i2").tobytes())
    monkeypatch.setenv("QA_AUDIO_WINDOW_S", "60")
    transcript = get_transcriber(TranscriptionOptions(), ("Телеком Плюс",)).transcribe(path)
    assert transcript.stats["windows"] == 2
    if transcript.options["device"] == "cpu":  # the batch the windows were decoded with is the one echoed
        assert transcript.options["batch_size"] == WINDOW_BATCH
    assert transcript.duration_s == pytest.approx(stereo.shape[1] / TARGET_RATE, abs=0.01)
    text = " ".join(u.text.lower() for u in transcript.utterances)
    assert "телеком" in text and "не знаю" in text  # the first call's greeting, the second call's stop word
    join = first.duration_s
    later = [u for u in transcript.utterances if u.start > join]
    assert later and all(u.end <= transcript.duration_s for u in later)
    for speaker in ("operator", "client"):
        words = [w for u in transcript.utterances if u.speaker == speaker for w in u.words]
        assert all(a.start <= a.end <= b.start for a, b in itertools.pairwise(words))
        voice = transcript.stats["voice"][speaker]
        assert voice == sorted(voice) and any(start > join for start, _ in voice)


def test_a_span_decoded_alone_gives_the_same_clip_as_the_whole_file():
    from qa.speech.audio import cut_clip, decode_span

    path = SAMPLES / "call_escalation.flac"
    whole, span = decode_audio(path), decode_span(path, 10.0, 25.0)
    assert span.start_s == 10.0 and span.duration_s == pytest.approx(15.0, abs=0.01)
    mute = [(12.0, 12.5), (20.0, 30.0)]
    for a, b in zip(cut_clip(span, 11.0, 24.0, mute), cut_clip(whole, 11.0, 24.0, mute), strict=True):
        assert np.array_equal(a, b)


@pytest.mark.slow
def test_the_export_cuts_a_long_calls_clips_without_decoding_it_whole(sample_db, tmp_path, monkeypatch):
    """A call longer than ten minutes is decoded clip by clip; its clips are the same as those of the whole file."""
    import json

    import qa.review.export as export_module

    def export(name: str) -> list[dict]:
        from typer.testing import CliRunner

        from qa.cli import app

        out = tmp_path / name
        result = CliRunner().invoke(app, ["export", "--db", str(sample_db), "--out", str(out), "--rule",
                                          "escalation_complaint", "--format", "jsonl"])
        assert result.exit_code == 0, result.output
        lines = (out / "examples.jsonl").read_text(encoding="utf-8").splitlines()
        return [e for e in map(json.loads, lines) if e["clip"]]

    whole = export("whole")
    monkeypatch.setattr(export_module, "WHOLE_AUDIO_S", 1.0)  # every call counts as long: spans only
    spans = export("spans")
    assert whole and [e["clip"] for e in spans] == [e["clip"] for e in whole]
    for a, b in zip(whole, spans, strict=True):  # the same samples in, the same sound out
        left, right = decode_audio(tmp_path / "whole" / a["clip"]), decode_audio(tmp_path / "spans" / b["clip"])
        assert len(left.channels[0]) == len(right.channels[0])
        assert all(np.allclose(x, y, atol=1e-3) for x, y in zip(left.channels, right.channels, strict=True))


@pytest.mark.parametrize(("windows", "kept"), [
    ([({"method": "voices", "confidence": 0.9}, 120), ({"method": "voices", "confidence": 0.7}, 80)], 0.7),
    ([({"method": "voices", "confidence": 0.9}, 120), ({"method": "unknown", "reason": "one voice"}, 30)], None),
    # a window of line noise after the last words says nothing about who spoke
    ([({"method": "voices", "confidence": 0.9}, 120), ({"method": "unknown", "reason": "too little speech"}, 0)], 0.9),
    ([({"method": "unknown", "reason": "too little speech"}, 0)], None),
])
def test_a_long_mono_calls_attribution_is_its_least_sure_window_with_words(windows, kept):
    from qa.speech.transcribe.transcriber import _least_sure

    summary = _least_sure(windows)
    assert summary["call_windows"] == len(windows)
    assert summary.get("confidence") == kept
    assert (summary["method"] == "voices") is (kept is not None)
