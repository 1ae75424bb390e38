"""The transcript of one call (:class:`Transcript`) and its cache format: a JSON-able dict in a file.

:data:`CACHE_VERSION` is part of every cache key and of every cached file: bump it when the same audio and settings
would give a different transcript, so that files cached before are not reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from qa.records import Utterance, Word

CACHE_VERSION = 8  # 8: decoded_again counts unsure words; second_beam_size (7: punctuation before a span taken)
# 6: primed words Whisper was unsure of checked without the prompt, stray words moved to their voice
# 5: mono speakers from voices (word speaker confidence), primed decodes in doubt decoded again
# 4: per-channel voice regions (Silero, 50 ms pad) in stats["voice"]

# The packaged data that changes a transcript: the phrases invented on silence (guards) and the role cues of mono calls
# (who is the operator). Their content is part of every cache key (:func:`data_digest`): edit one and transcripts
# cached before are decoded again. (The speaker encoder's weights are pinned by their sha256 and refused otherwise.)
DATA_FILES = ("hallucinations_ru.txt", "roles_ru.json")


@cache
def data_digest() -> str:
    """A short hash of the content of :data:`DATA_FILES` (read once per process)."""
    digest = hashlib.sha256()
    for name in DATA_FILES:
        digest.update(name.encode() + b"\0" + (resources.files("qa.speech") / "data" / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass
class Transcript:
    """The words of one call, grouped into speaker turns, with what the guards removed."""

    utterances: list[Utterance]  # speaker and words set; tokens left empty
    duration_s: float
    speaker_mode: str  # stereo | mono
    audio_sha256: str
    stats: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


def _word_row(w: Word) -> list[Any]:
    row: list[Any] = [w.text, w.start, w.end, w.probability]
    return row if w.speaker_confidence is None else [*row, w.speaker_confidence]


def word_from_row(row: list[Any]) -> Word:
    """A word from ``[text, start, end, probability(, speaker confidence)]`` (the cache's and the store's form)."""
    return Word(str(row[0]), float(row[1]), float(row[2]), float(row[3]),
                float(row[4]) if len(row) > 4 and row[4] is not None else None)


def transcript_to_dict(transcript: Transcript) -> dict[str, Any]:
    """A JSON-able dict of a transcript (the cache format)."""
    return {
        "version": CACHE_VERSION,
        "duration_s": transcript.duration_s,
        "speaker_mode": transcript.speaker_mode,
        "audio_sha256": transcript.audio_sha256,
        "stats": transcript.stats,
        "options": transcript.options,
        "utterances": [
            {
                "speaker": u.speaker,
                "start": u.start,
                "end": u.end,
                "text": u.text,
                "words": [_word_row(w) for w in u.words],
            }
            for u in transcript.utterances
        ],
    }


def transcript_from_dict(data: Mapping[str, Any]) -> Transcript:
    """The inverse of :func:`transcript_to_dict`."""
    utterances = [
        Utterance(
            speaker=u["speaker"],
            start=float(u["start"]),
            end=float(u["end"]),
            text=u["text"],
            words=tuple(word_from_row(w) for w in u["words"]),
        )
        for u in data["utterances"]
    ]
    return Transcript(
        utterances=utterances,
        duration_s=float(data["duration_s"]),
        speaker_mode=data["speaker_mode"],
        audio_sha256=data["audio_sha256"],
        stats=dict(data.get("stats", {})),
        options=dict(data.get("options", {})),
    )


def read_cached(path: Path) -> Transcript | None:
    """The transcript cached at ``path``, or None (and the file removed) when it cannot be read back."""
    try:
        return transcript_from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)
        return None


def write_cached(path: Path, transcript: Transcript) -> None:
    """Write ``transcript`` to ``path`` whole or not at all (a temporary file beside it, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(transcript_to_dict(transcript), ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
