"""Silero voice activity detection (the detector faster-whisper ships) on one channel's own audio.

Voice regions with tight edges time each speaker's talk, silences and replies (``Transcript.stats["voice"]``, read
by :mod:`qa.rules.metrics`); speech clips inside loud stretches that no decoded word covers are what the batched
decoder is asked to decode again. faster-whisper's VAD is imported lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from qa.speech.audio import TARGET_RATE
from qa.speech.transcribe.guards import _least_duration, _may_hold_speech, uncovered_loud_regions
from qa.speech.transcribe.options import TranscriptionOptions

_RATE = TARGET_RATE  # decoded channels are 16 kHz
_RETRY_CLIP_S = 28.0
_VOICE_MIN_SILENCE_MS = 300  # voice regions: a pause this long splits them
_VOICE_MIN_SPEECH_MS = 120
_VOICE_PAD_MS = 50  # tight edges: 200 ms (the decoder's pad) put every reply ~0.4 s short on trimmed truth
_VOICE_THRESHOLD = 0.35  # Silero speech probability for voice regions of wideband audio
_VOICE_THRESHOLD_NARROWBAND = 0.2  # telephone band (≤ 8 kHz sources): Silero is less sure of speech


def voice_regions(samples: np.ndarray, narrowband: bool = False) -> list[list[float]]:
    """Speech regions (seconds, rounded to ms) of one 16 kHz channel by Silero VAD, the detector
    faster-whisper ships, with a 50 ms pad (tight edges: talk time, gaps and replies follow the voice).

    ``narrowband`` (a source sampled at 8 kHz or less) lowers the speech threshold: on the
    telephone band Silero's probabilities fall and 0.5 missed ~20 % of the synthetic call's speech.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if not _may_hold_speech(samples):
        return []
    vad = VadOptions(threshold=_VOICE_THRESHOLD_NARROWBAND if narrowband else _VOICE_THRESHOLD,
                     min_silence_duration_ms=_VOICE_MIN_SILENCE_MS, speech_pad_ms=_VOICE_PAD_MS,
                     min_speech_duration_ms=_VOICE_MIN_SPEECH_MS)
    limit = samples.size / _RATE
    return [[round(ts["start"] / _RATE, 3), round(min(ts["end"] / _RATE, limit), 3)]
            for ts in get_speech_timestamps(samples, vad)]


def missed_speech_clips(
    samples: np.ndarray, segments: Sequence[Any], options: TranscriptionOptions
) -> list[dict[str, float]]:
    """Clips (seconds) of VAD speech inside loud stretches that no decoded word covers."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    covered = [(min(w.start, w.end - _least_duration(w.word)), w.end) for seg in segments for w in seg.words or []]
    regions = uncovered_loud_regions(samples, covered)
    if not regions:
        return []
    o = options
    vad = VadOptions(
        threshold=o.vad_threshold,
        min_silence_duration_ms=o.vad_min_silence_ms,
        speech_pad_ms=o.vad_speech_pad_ms,
        max_speech_duration_s=_RETRY_CLIP_S,
    )
    clips: list[dict[str, float]] = []
    for start, end in regions:
        offset = int(start * _RATE)
        for ts in get_speech_timestamps(samples[offset : int(end * _RATE)], vad):
            a, b = (offset + ts["start"]) / _RATE, (offset + ts["end"]) / _RATE
            if clips and a - clips[-1]["end"] < 1.0 and b - clips[-1]["start"] <= _RETRY_CLIP_S:
                clips[-1]["end"] = b
            elif b - a >= 0.5:
                clips.append({"start": a, "end": b})
    return clips

