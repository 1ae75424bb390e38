"""Every word of a mono channel gets a speaker and a confidence, or ``unknown`` with the reason stored.

:func:`attribute_words` splits the voices (:mod:`~qa.speech.diarize.voices`), gives each word the voice the windows
over it resemble more, decides which voice is the operator (:mod:`~qa.speech.diarize.roles`), and returns per word
the speaker and its confidence (voice margin × role certainty). Where there are not two voices, where the roles are
not told by what is said, or where the speaker model is not installed, every word is ``unknown`` and the reason is
what the transcript's stats say. A word whose own confidence is below :data:`WORD_UNSURE_BELOW` is ``unknown`` too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from qa.speech.diarize.encoder import SpeakerModelMissing, get_encoder
from qa.speech.diarize.roles import decide_roles
from qa.speech.diarize.voices import split_voices

WORD_UNSURE_BELOW = 0.6
MIN_WORDS = 6


class _Timed(Protocol):
    text: str
    start: float
    end: float


@dataclass
class Attribution:
    """Per word: speaker and confidence; for the call: how it was attributed (stored in the transcript's stats)."""

    speakers: list[str]
    confidences: list[float]
    stats: dict[str, Any] = field(default_factory=dict)
    voice: dict[str, list[list[float]]] = field(default_factory=dict)  # voice regions per speaker


def _unknown(words: Sequence[_Timed], reason: str, **extra: Any) -> Attribution:
    return Attribution(["unknown"] * len(words), [0.0] * len(words),
                       {"method": "unknown", "reason": reason, **extra})


def attribute_words(samples: np.ndarray, regions: Sequence[Sequence[float]], words: Sequence[_Timed],
                    hints: Mapping[str, Any] | None = None, brands: Sequence[str] = ()) -> Attribution:
    """Speakers of the ``words`` of one mono 16 kHz channel whose voice activity is ``regions`` (seconds)."""
    hints = hints or {}
    if len(words) < MIN_WORDS:
        return _unknown(words, f"too little speech to tell two speakers ({len(words)} words)")
    try:
        encoder = get_encoder()
    except SpeakerModelMissing as exc:
        return _unknown(words, str(exc))
    split = split_voices(samples, regions, encoder)
    if not split.split:
        return _unknown(words, split.reason, voice_similarity=split.similarity)
    voices = [split.word_voice(w.start, w.end) for w in words]
    texts = [" ".join(w.text for w, (v, _) in zip(words, voices, strict=True) if v == k) for k in (0, 1)]
    seconds = [round(sum(w.end - w.start for w, (v, _) in zip(words, voices, strict=True) if v == k), 2)
               for k in (0, 1)]
    if min(len(t.split()) for t in texts) == 0:
        return _unknown(words, "one voice heard (every word is nearer one voice)",
                        voice_similarity=split.similarity)
    first = next((v for v, conf in voices if conf >= WORD_UNSURE_BELOW), voices[0][0])
    roles = decide_roles(texts, first, hints, brands)
    base = {"voice_similarity": split.similarity, "windows": len(split.windows), "evidence": roles.evidence,
            "voice_words_s": seconds}
    if roles.operator_voice is None:
        return _unknown(words, roles.reason, **base)
    names = {roles.operator_voice: "operator", 1 - roles.operator_voice: "client"}
    speakers, confidences = [], []
    for voice, conf in voices:
        sure = round(conf * roles.confidence, 3)  # this voice × these roles
        speakers.append(names[voice] if conf >= WORD_UNSURE_BELOW else "unknown")
        confidences.append(sure)
    unsure = sum(s == "unknown" for s in speakers)
    voice: dict[str, list[list[float]]] = {}
    for start, end in regions:
        which, conf = split.word_voice(float(start), float(end))
        voice.setdefault(names[which] if conf >= WORD_UNSURE_BELOW else "unknown", []).append(
            [float(start), float(end)])
    return Attribution(speakers, confidences, voice=voice, stats={
        "method": "voices", "role_confidence": roles.confidence,
        "confidence": round(float(np.mean(confidences)), 3), "unsure_words": unsure, **base})
