"""Speakers of a mono call: two voices told apart by a speaker encoder, then roles from what each voice says.

- :mod:`~qa.speech.diarize.encoder`: Resemblyzer's GE2E encoder in numpy (weights read without torch);
- :mod:`~qa.speech.diarize.voices`: embeddings over the voice activity, clustered in two;
- :mod:`~qa.speech.diarize.roles`: which voice is the operator (phrases as data, sidecar hints);
- :mod:`~qa.speech.diarize.attribution`: every word a speaker and a confidence, or ``unknown`` with the reason.
"""

from __future__ import annotations

from qa.speech.diarize.attribution import Attribution, attribute_words
from qa.speech.diarize.encoder import SpeakerModelMissing, get_encoder, read_legacy_torch
from qa.speech.diarize.roles import RoleCues, decide_roles, role_cues
from qa.speech.diarize.voices import VoiceSplit, split_voices

__all__ = [
    "Attribution",
    "RoleCues",
    "SpeakerModelMissing",
    "VoiceSplit",
    "attribute_words",
    "decide_roles",
    "get_encoder",
    "read_legacy_torch",
    "role_cues",
    "split_voices",
]
