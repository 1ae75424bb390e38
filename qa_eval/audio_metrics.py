"""What the accuracy bench measures on a voiced call besides the checks: WER against the voiced truth, the share of
words given the right speaker, and prompt-term insertions (prompt words in a transcript that were never said)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_NON_WORD = re.compile(r"[^\w]+")
PROMPT_STEM = 6  # a word that starts like a prompt term (first 6 letters) counts as that term («Роспотребнадёжный»)
MIN_TERM = 5  # shorter prompt words («банк») are everyday words, not counted


def words_of(text: str) -> list[str]:
    """Normalised words (the text stage's normaliser: numbers spelled out; else lower case, ё→е)."""
    try:
        from qa.text.normalize import normalize_text
    except ImportError:  # pragma: no cover
        return _NON_WORD.sub(" ", text.lower().replace("ё", "е")).split()
    return normalize_text(text).split()


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance between two word sequences."""
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits, reference words) of one hypothesis."""
    ref = words_of(reference)
    return edit_distance(ref, words_of(hypothesis)), len(ref)


def truth_speaker(truth: dict[str, Any], start: float, end: float) -> str:
    """The speaker of the truth turn a word (seconds) falls in, or the nearest turn's."""
    mid = (start + end) / 2

    def distance(turn: dict[str, Any]) -> float:
        if turn["start"] - 0.3 <= mid <= turn["end"] + 0.3:
            return 0.0
        return min(abs(mid - turn["start"]), abs(mid - turn["end"]))

    return min(truth["turns"], key=distance)["speaker"]


def speaker_right(truth: dict[str, Any], utterances: Sequence[Any]) -> tuple[int, int]:
    """(words given the right speaker, words) of a transcript; ``unknown`` is never right."""
    right = total = 0
    for u in utterances:
        for w in u.words:
            total += 1
            right += u.speaker == truth_speaker(truth, w.start, w.end)
    return right, total


def prompt_insertions(prompt_terms: Sequence[str], truth_text: str, heard_text: str) -> int:
    """Prompt words heard more often than they were said (by word, counted on their first letters)."""
    stems = {w[:PROMPT_STEM] for term in prompt_terms for w in words_of(term) if len(w) >= MIN_TERM}
    said = words_of(truth_text)
    heard = words_of(heard_text)
    extra = 0
    for stem in stems:
        extra += max(0, sum(w.startswith(stem) for w in heard) - sum(w.startswith(stem) for w in said))
    return extra
