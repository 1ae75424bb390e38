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


BLOCK_S = 300.0  # a longer channel is transcribed (and its voice found) block by block: memory stays bounded
_CUT_SEARCH_S = 15.0  # a block ends at the quietest half second this close to its nominal end
_CUT_FRAME = 8000  # half a second at 16 kHz


def block_bounds(samples: np.ndarray, block_s: float | None = None) -> list[tuple[int, int]]:
    """Sample ranges of about ``block_s`` seconds (:data:`BLOCK_S`) covering a channel, each cut at the quietest
    half second near its nominal end, so that no word is split; one range when the channel is short."""
    block = int((block_s or BLOCK_S) * _RATE)
    if samples.size <= block * 3 // 2:
        return [(0, samples.size)]
    bounds, start, search = [], 0, min(int(_CUT_SEARCH_S * _RATE), block // 4)
    while samples.size - start > block * 3 // 2:
        lo, hi = start + block - search, min(start + block + search, samples.size)
        count = max(1, (hi - lo) // _CUT_FRAME)
        frames = samples[lo:lo + count * _CUT_FRAME]
        frames = frames[:frames.size // _CUT_FRAME * _CUT_FRAME].reshape(-1, _CUT_FRAME) if frames.size >= _CUT_FRAME \
            else frames.reshape(1, -1)
        quiet = int(np.argmin(np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))))
        cut = lo + quiet * _CUT_FRAME + _CUT_FRAME // 2
        bounds.append((start, cut))
        start = cut
    bounds.append((start, samples.size))
    return bounds


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
    regions: list[list[float]] = []
    for a, b in block_bounds(samples):  # Silero holds a copy of what it reads: a block at a time
        limit = b / _RATE
        for ts in get_speech_timestamps(samples[a:b], vad):
            start, end = round((a + ts["start"]) / _RATE, 3), round(min((a + ts["end"]) / _RATE, limit), 3)
            if regions and start - regions[-1][1] < _VOICE_MIN_SILENCE_MS / 1000:
                regions[-1][1] = end  # one region across a block's edge
            else:
                regions.append([start, end])
    return regions


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

