"""The keyword arguments of the decode without the prompt (qa.speech.transcribe.decoding.plain_kwargs)."""

from __future__ import annotations

import pytest

from qa.speech.transcribe import TranscriptionOptions
from qa.speech.transcribe.decoding import plain_kwargs

PRIMED = {"language": "ru", "beam_size": 5, "initial_prompt": "банк Северный", "hotwords": None, "batch_size": 8}


@pytest.mark.parametrize(("why", "second", "beam"), [
    (["unsure_words"], 2, 2),  # candidates for single spans: a narrower beam is enough
    (["loop"], 2, 5),  # may replace a whole stretch: decoded as bare faster-whisper decodes
    (["prompt_echo", "low_coverage"], 2, 5),
    (["unsure_words"], 0, 5),  # 0: the primed decode's beam
])
def test_the_plain_decode_has_no_prompt_and_a_narrower_beam_only_for_unsure_words(why, second, beam):
    kwargs = plain_kwargs(PRIMED, TranscriptionOptions(second_beam_size=second), why)
    assert "initial_prompt" not in kwargs and "hotwords" not in kwargs
    assert kwargs["beam_size"] == beam and kwargs["batch_size"] == 8 and PRIMED["beam_size"] == 5
