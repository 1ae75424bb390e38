"""Decoding: containers, headerless telephony formats, and bad files that must name themselves."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from qa.errors import AudioError
from qa.speech.audio import AUDIO_SUFFIXES, RawFormat, decode_audio, file_sha256

FIXTURES = Path(__file__).parent / "fixtures" / "audio"


def test_stereo_fixture_keeps_channels_apart():
    audio = decode_audio(FIXTURES / "two_speakers.flac")
    assert audio.source_channels == 2 and len(audio.channels) == 2
    assert audio.sample_rate == 16000 and audio.channels[0].dtype == np.float32
    truth = json.loads((FIXTURES.parent / "truth" / "two_speakers.json").read_text(encoding="utf-8"))
    assert audio.duration_s == pytest.approx(truth["duration"], abs=0.05)
    assert not np.allclose(audio.channels[0], audio.channels[1])


def test_raw_alaw_needs_and_uses_a_declared_format(shared_data):
    path = shared_data / "tinkoff_voicekit_audio" / "sample_3.al"
    audio = decode_audio(path, RawFormat("alaw", 8000))
    assert audio.duration_s == pytest.approx(7.45, abs=0.01)
    assert audio.source_sample_rate == 8000
    assert len(audio.channels[0]) == pytest.approx(7.445 * 16000, abs=2)
    with pytest.raises(AudioError, match=r"sample_3\.al.*format must be declared"):
        decode_audio(path)


def test_raw_pcm_at_8k_is_resampled(shared_data):
    audio = decode_audio(shared_data / "tinkoff_voicekit_audio" / "negative_sample.s16", RawFormat("s16le", 8000))
    assert audio.duration_s == pytest.approx(7.25, abs=0.05)
    assert float(np.max(np.abs(audio.channels[0]))) > 0.1


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("corrupt.flac", "no audio samples|cannot be"),
        ("empty.wav", "no audio samples"),
    ],
)
def test_bad_fixtures_raise_audio_error_naming_the_file(name, problem):
    with pytest.raises(AudioError, match=problem) as caught:
        decode_audio(FIXTURES / name)
    assert caught.value.path.endswith(name)


def test_zero_byte_and_missing_and_non_audio_files(tmp_path):
    empty = tmp_path / "call.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="0 bytes"):
        decode_audio(empty)
    with pytest.raises(AudioError, match="not found"):
        decode_audio(tmp_path / "absent.flac")
    text = tmp_path / "notes.mp3"
    text.write_text("не звук", encoding="utf-8")
    with pytest.raises(AudioError) as caught:
        decode_audio(text)
    assert str(caught.value).startswith(str(text))


def test_header_only_wav_has_no_samples(tmp_path):
    path = tmp_path / "header_only.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
    with pytest.raises(AudioError, match="no audio samples"):
        decode_audio(path)


def test_sha256_of_a_known_clip(shared_data):
    digest = file_sha256(shared_data / "pisets_testdata_ru" / "silence.wav")
    assert digest == "643f8a8dc8bd9c19225afffad2becfec5426180b3749cb208abdf1a6c8354efc"


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".al", ".ul", ".s16", ".pcm"])
def test_call_suffixes(suffix):
    assert suffix in AUDIO_SUFFIXES


def test_raw_format_rejects_unknown_codec():
    with pytest.raises(ValueError, match="codec"):
        RawFormat("g729", 8000)  # type: ignore[arg-type]
