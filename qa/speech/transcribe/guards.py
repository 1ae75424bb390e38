"""Guards against what Whisper invents and against speech it loses.

Inventions: phrases Whisper writes on silence (the packaged ``data/hallucinations_ru.txt``), repetition loops, text
that compresses too well, segments the model itself marks as non-speech; :func:`guarded_words` applies them all to
one channel's segments and counts what it drops. Lost speech: loud stretches of a channel that no decoded word covers
(:func:`uncovered_loud_regions`), which are searched for speech and decoded again.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from qa.records import Utterance
from qa.speech.audio import TARGET_RATE
from qa.speech.transcribe.options import TranscriptionOptions

_RATE = TARGET_RATE  # decoded channels are 16 kHz
_FRAME_S = 0.05
_WORD_MARGIN_S = 0.4
_MIN_MISSED_S = 1.0

# --- inventions ----------------------------------------------------------------------------------

_NON_WORD = re.compile(r"[^\w]+")
_BRACKETED = re.compile(r"^\s*(?:[\[(*♪♫].*[\])*♪♫]|[♪♫\s]+)\s*$")


def normalise_phrase(text: str) -> list[str]:
    """Lower case, ё→е, punctuation removed: the tokens a phrase is matched on."""
    return _NON_WORD.sub(" ", text.lower().replace("ё", "е")).split()


@dataclass(frozen=True)
class HallucinationList:
    """Known inventions: ``anywhere`` phrases are removed wherever they occur, ``alone`` phrases
    only when they are a segment's or a turn's whole text."""

    anywhere: tuple[tuple[str, ...], ...]
    alone: frozenset[tuple[str, ...]]

    @classmethod
    def parse(cls, text: str) -> HallucinationList:
        """Read the list format of ``qa/speech/data/hallucinations_ru.txt``."""
        anywhere: list[tuple[str, ...]] = []
        alone: set[tuple[str, ...]] = set()
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("alone:"):
                alone.add(tuple(normalise_phrase(line[len("alone:") :])))
            else:
                anywhere.append(tuple(normalise_phrase(line)))
        anywhere.sort(key=len, reverse=True)  # longest first, so a credit line goes in one piece
        return cls(tuple(p for p in anywhere if p), frozenset(p for p in alone if p))

    def is_alone_phrase(self, text: str) -> bool:
        """Whether ``text`` is, as a whole, a phrase known to be invented on silence."""
        tokens = tuple(normalise_phrase(text))
        return bool(tokens) and (tokens in self.alone or tokens in self.anywhere)

    def invented_spans(self, words: Sequence[str]) -> list[tuple[int, int]]:
        """Index ranges ``[i, j)`` of ``words`` covered by an ``anywhere`` phrase."""
        flat: list[str] = []
        owner: list[int] = []
        for index, word in enumerate(words):
            for token in normalise_phrase(word):
                flat.append(token)
                owner.append(index)
        spans: list[tuple[int, int]] = []
        taken = [False] * len(flat)
        for phrase in self.anywhere:
            n = len(phrase)
            for i in range(len(flat) - n + 1):
                if not taken[i] and tuple(flat[i : i + n]) == phrase and not any(taken[i : i + n]):
                    taken[i : i + n] = [True] * n
                    spans.append((owner[i], owner[i + n - 1] + 1))
        return sorted(spans)


@cache
def hallucination_list() -> HallucinationList:
    """The packaged Russian list (read once)."""
    text = (resources.files("qa.speech") / "data" / "hallucinations_ru.txt").read_text(encoding="utf-8")
    return HallucinationList.parse(text)


def collapse_repetitions(words: Sequence[str], max_n: int = 6) -> list[int]:
    """Indices of ``words`` to keep after collapsing loops (an n-gram repeated back to back:
    ≥5 times for single words, ≥3 times for longer n-grams) to its first occurrence."""
    tokens = [" ".join(normalise_phrase(w)) for w in words]
    keep = [True] * len(tokens)
    for n in range(1, max_n + 1):
        min_repeats = 5 if n == 1 else 3
        i = 0
        while i + n * min_repeats <= len(tokens):
            gram = tokens[i : i + n]
            repeats = 1
            while tokens[i + repeats * n : i + (repeats + 1) * n] == gram:
                repeats += 1
            if repeats >= min_repeats and any(gram):
                for k in range(i + n, i + repeats * n):
                    keep[k] = False
                i += repeats * n
            else:
                i += 1
    return [i for i, k in enumerate(keep) if k]


def compression_ratio(text: str) -> float:
    """Whisper's repetition measure: text bytes over zlib-compressed bytes."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def guarded_words(
    segments: Iterable[Any], options: TranscriptionOptions, vocabulary: Sequence[str], stats: dict[str, Any],
    confirm: Callable[[Any], bool] | None = None,
) -> list[Any]:
    """The words of faster-whisper ``segments`` that pass the guards, in segment order.

    A segment goes whole when the model marks it as non-speech, when it is bracketed or a phrase known to be
    invented on silence, or when it is only the prompted vocabulary read back on noise; known phrases inside it and
    repetition loops are cut out, and what is left goes too when it still compresses like a loop. Each drop is
    counted in ``stats`` (``dropped_no_speech``, ``dropped_hallucinations``, ``dropped_repetitions``). A word that
    ``confirm`` says a second decode heard too is never dropped (counted in ``stats["kept_confirmed"]``).
    """
    o = options
    guard = hallucination_list()
    vocabulary_tokens = {t for term in vocabulary for t in normalise_phrase(term)}
    kept: list[Any] = []

    def rescue(dropped: Sequence[Any]) -> list[Any]:
        """The dropped words a second decode confirms (kept after all)."""
        if confirm is None:
            return []
        saved = [w for w in dropped if confirm(w)]
        if saved:
            stats["kept_confirmed"] = stats.get("kept_confirmed", 0) + len(saved)
        return saved

    for segment in segments:
        seg_words = list(segment.words or [])
        if not seg_words:
            continue
        if segment.no_speech_prob > o.no_speech_threshold and segment.avg_logprob < o.log_prob_threshold:
            stats["dropped_no_speech"] += 1
            kept.extend(rescue(seg_words))
            continue
        text = "".join(w.word for w in seg_words)
        if _BRACKETED.match(text) or guard.is_alone_phrase(text):
            stats["dropped_hallucinations"] += 1
            continue
        if o.use_vocabulary == "prompt" and vocabulary_tokens and segment.no_speech_prob > 0.3:
            tokens = normalise_phrase(text)
            if tokens and set(tokens) <= vocabulary_tokens:  # the prompt read back on noise
                stats["dropped_hallucinations"] += 1
                continue
        spans = guard.invented_spans([w.word for w in seg_words])
        if spans:
            stats["dropped_hallucinations"] += len(spans)
            cut = {i for a, b in spans for i in range(a, b)}
            seg_words = [w for i, w in enumerate(seg_words) if i not in cut]
        keep = collapse_repetitions([w.word for w in seg_words])
        if len(keep) < len(seg_words):
            kept_set = set(keep)
            saved = {id(w) for w in rescue([w for i, w in enumerate(seg_words) if i not in kept_set])}
            stats["dropped_repetitions"] += len(seg_words) - len(keep) - len(saved)
            seg_words = [w for i, w in enumerate(seg_words) if i in kept_set or id(w) in saved]
        kept_text = "".join(w.word for w in seg_words)
        if len(kept_text) > 40 and compression_ratio(kept_text) > o.compression_ratio_threshold:
            saved_words = rescue(seg_words)
            stats["dropped_repetitions"] += len(seg_words) - len(saved_words)
            kept.extend(saved_words)
            continue
        kept.extend(seg_words)
    return kept


def drop_alone_turns(utterances: list[Utterance], stats: dict[str, Any]) -> list[Utterance]:
    """The utterances whose whole text is not a phrase known to be invented on silence (each drop counted in
    ``stats["dropped_hallucinations"]``)."""
    guard = hallucination_list()
    kept = []
    for u in utterances:
        if guard.is_alone_phrase(u.text):
            stats["dropped_hallucinations"] += 1
        else:
            kept.append(u)
    return kept


# --- lost speech ---------------------------------------------------------------------------------


def _may_hold_speech(samples: np.ndarray) -> bool:
    """False for audio that cannot hold speech (digital silence), which skips the model entirely."""
    return samples.size > 0 and float(np.max(np.abs(samples))) > 1e-4


def _least_duration(word: str) -> float:
    """The least time a word takes to say: Whisper sometimes squeezes a long number into an instant
    at its end, which must not look like missed speech before it."""
    digits = sum(c.isdigit() for c in word)
    letters = sum(c.isalpha() for c in word)
    return 0.3 * digits + 0.05 * letters


def uncovered_loud_regions(
    samples: np.ndarray, covered: Sequence[tuple[float, float]], rate: int = _RATE
) -> list[tuple[float, float]]:
    """Stretches (seconds) with at least 1 s of sound well above the noise floor and no word near."""
    frame = int(_FRAME_S * rate)
    count = samples.size // frame
    if count == 0:
        return []
    rms = np.sqrt(np.mean(samples[: count * frame].reshape(count, frame) ** 2, axis=1))
    loud = rms > max(10 ** (-50 / 20), 3 * float(np.percentile(rms, 10)))
    for start, end in covered:
        a = max(0, int((start - _WORD_MARGIN_S) / _FRAME_S))
        loud[a : int((end + _WORD_MARGIN_S) / _FRAME_S) + 1] = False
    regions: list[list[float]] = []
    for index in np.flatnonzero(loud):
        t = index * _FRAME_S
        if regions and t - regions[-1][1] <= 0.5:
            regions[-1][1] = t + _FRAME_S
            regions[-1][2] += _FRAME_S
        else:
            regions.append([t, t + _FRAME_S, _FRAME_S])
    return [(max(0.0, a - 0.3), b + 0.3) for a, b, loud_s in regions if loud_s >= _MIN_MISSED_S]
