"""CUDA transcription (runs only where CTranslate2 sees a GPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.speech.transcribe import Transcriber, TranscriptionOptions, cuda_available

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not cuda_available(), reason="no CUDA device")]

FIXTURES = Path(__file__).parent / "fixtures" / "audio"


def test_auto_options_pick_cuda_float16():
    options = TranscriptionOptions()
    assert options.resolved_device() == "cuda"
    assert options.resolved_compute_type("cuda") == "float16"
    assert options.resolved_batch_size("cuda") == 16


def test_stereo_fixture_on_gpu():
    transcript = Transcriber(TranscriptionOptions(device="cuda")).transcribe(FIXTURES / "two_speakers.flac")
    assert transcript.options["device"] == "cuda"
    assert [u.speaker for u in transcript.utterances][:2] == ["operator", "client"]
