"""Merging the words of a call's channels into speaker turns by their own timestamps.

Each speaker's words are cut into utterances at long pauses and at turn changes; utterances of different speakers
may overlap in time, so overtalk stays visible.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from qa.records import Utterance, Word


@dataclass
class _RawWord:
    """One decoded word before merging: its text, times (seconds), probability and speaker."""

    text: str
    start: float
    end: float
    probability: float
    speaker: str = "unknown"
    confidence: float | None = None  # of the speaker (mono calls)


def merge_words(words: Sequence[_RawWord], pause_split_s: float) -> list[Utterance]:
    """Group words into utterances by their timestamps, per speaker.

    A speaker's run of words is cut at a pause longer than ``pause_split_s`` or where another
    speaker's word lies wholly in the gap (a turn change). Runs of different speakers may overlap
    in time (overtalk). Utterances come back sorted by start.
    """
    by_speaker: dict[str, list[_RawWord]] = {}
    for w in words:
        by_speaker.setdefault(w.speaker, []).append(w)
    utterances: list[Utterance] = []
    for speaker, own in by_speaker.items():
        own.sort(key=lambda w: w.start)
        others = sorted((w.start + w.end) / 2 for w in words if w.speaker != speaker)
        run: list[_RawWord] = []
        for w in own:
            if run:
                gap_start, gap_end = run[-1].end, w.start
                between = bisect.bisect_right(others, gap_end) - bisect.bisect_left(others, gap_start)
                if gap_end - gap_start > pause_split_s or (between > 0 and gap_end > gap_start):
                    utterances.append(_utterance(speaker, run))
                    run = []
            run.append(w)
        if run:
            utterances.append(_utterance(speaker, run))
    utterances.sort(key=lambda u: (u.start, u.end))
    return utterances


def _utterance(speaker: str, run: Sequence[_RawWord]) -> Utterance:
    words = tuple(Word(w.text, round(w.start, 3), round(w.end, 3), round(w.probability, 4),
                       None if w.confidence is None else round(w.confidence, 3)) for w in run)
    return Utterance(
        speaker=speaker,
        start=words[0].start,
        end=max(w.end for w in words),
        text=" ".join(w.text for w in words),
        words=words,
    )
