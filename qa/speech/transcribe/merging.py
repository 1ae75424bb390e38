"""Merging the words of a call's channels into speaker turns by their own timestamps.

Each speaker's words are cut into utterances at long pauses and at turn changes; utterances of different speakers
may overlap in time, so overtalk stays visible. Before that, :func:`snap_to_voice` moves a word that faster-whisper's
batched decoder timed at the end of one stretch of speech, sticking out into the silence after it, to the next
stretch of the same channel's voice, where it was said.
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


STRAY_OVERSHOOT_S = 0.1  # a stretch's last word ending this far past its voice region was said in the next region


def snap_to_voice(words: Sequence[_RawWord], regions: Sequence[Sequence[float]]) -> int:
    """Move each stray word of one channel (in time order) to the voice region where it was said; how many moved.

    The batched decoder cuts the silences out, decodes the speech joined up, and puts each word back by the middle of
    its time; a word Whisper timed early (the first word after a silence, «Всего» of «Всего доброго») lands at the
    end of the previous stretch and sticks out past its voice into the silence. A word whose end lies more than
    :data:`STRAY_OVERSHOOT_S` past its voice region's end, when the channel's next word lies in a later region, is
    moved to the start of that next region (its text and probability kept), so it joins the words it was said with.
    The same holds for a turn's first word that Whisper started early, in the silence before its stretch: it starts
    where the voice does. On the tune half's noisy calls (main's transcripts) this moves 24 words: each lands in the
    truth turn it was said in (5 stray words across a reply, 19 early starts), and every turn's real last word ended
    at least 0.2 s before its voice region's end."""
    spans = sorted((float(a), float(b)) for a, b in regions)
    starts = [a for a, _ in spans]
    moved = 0
    for k in range(len(words) - 1):
        w, nxt = words[k], words[k + 1]
        at = bisect.bisect_right(starts, w.start + 0.05) - 1
        if at < 0 or at + 1 >= len(spans):
            continue
        _start, end = spans[at]
        later = spans[at + 1][0]
        if w.end <= end + STRAY_OVERSHOOT_S or nxt.start < later - 0.05:
            continue
        duration = w.end - w.start
        w.start = min(later, nxt.start)
        w.end = max(w.start, min(w.start + duration, nxt.start))
        moved += 1
    return moved


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
