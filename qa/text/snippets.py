"""A search hit's sentence, cut to the part around the match, with the matching words marked and personal data
masked: the text the page and ``qa search`` show.

Words are found the way transcripts are analysed (:func:`qa.text.normalize.split_normalized`, then the
lemmatizer), so every form of a searched lemma is marked («верните», «вернули» for «вернуть»).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import pairwise

from qa.text.analysis import LemmatizerLike
from qa.text.normalize import split_normalized

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
ELLIPSIS = "…"


@dataclass(frozen=True)
class Piece:
    """A run of a snippet: plain, a matching word (``hit``), or a placeholder for personal data (``masked``)."""

    text: str
    hit: bool = False
    masked: bool = False


@dataclass(frozen=True)
class Mask:
    """``text[start:end]`` is shown as ``placeholder`` (personal data)."""

    start: int
    end: int
    placeholder: str


def word_spans(text: str, lemmas: Collection[str], lemmatizer: LemmatizerLike) -> list[tuple[int, int]]:
    """Character spans of the words of ``text`` whose lemma (or normalised form) is one of ``lemmas``."""
    spans: list[tuple[int, int]] = []
    cursor, previous = 0, (0, 0, "")
    for surface, norm in split_normalized(text):
        at = text.find(surface, cursor)
        if at < 0:
            if surface == previous[2]:  # one surface, several words («25» → двадцать, пять)
                at = previous[0]
            else:
                continue
        span = (at, at + len(surface))
        previous = (*span, surface)
        cursor = max(cursor, span[1])
        if norm in lemmas or lemmatizer.lemma(norm) in lemmas:
            if not spans or spans[-1] != span:
                spans.append(span)
    return spans


def _window(text: str, hits: Sequence[tuple[int, int]], max_chars: int) -> tuple[int, int]:
    """The sentence of ``text`` that holds the first hit (and the next ones while they fit in ``max_chars``), or
    ``max_chars`` around the first hit when that sentence alone is longer; cut at spaces."""
    if len(text) <= max_chars:
        return 0, len(text)
    if not hits:
        return 0, max(text.rfind(" ", 0, max_chars), 1)
    bounds = [0, *(m.end() for m in _SENTENCE_END.finditer(text)), len(text)]
    first = hits[0][0]
    start = max(b for b in bounds if b <= first)
    end = min(b for b in bounds if b > first)
    if end - start > max_chars:  # one long sentence: a window around the hit
        start = max(start, first - max_chars // 3)
        end = min(end, start + max_chars)
    else:
        for b in bounds:
            if end < b <= start + max_chars:
                end = b
    if start > 0 and not text[start - 1].isspace():
        space = text.find(" ", start, first)
        start = space + 1 if space >= 0 else start
    if end < len(text) and not text[end].isspace():
        space = text.rfind(" ", hits[0][1], end)
        end = space if space >= 0 else end
    return start, end


def snippet(text: str, lemmas: Collection[str], lemmatizer: LemmatizerLike, masks: Sequence[Mask] = (),
            max_chars: int = 240) -> list[Piece]:
    """``text`` cut to the sentence(s) of its first match (at most about ``max_chars``), as pieces: matching words
    marked, ``masks`` replaced by their placeholders (a masked span that holds a match is marked too)."""
    hits = word_spans(text, lemmas, lemmatizer)
    start, end = _window(text, hits, max_chars)
    cuts = {start, end}
    for a, b in hits:
        cuts |= {min(max(a, start), end), min(max(b, start), end)}
    masks = [m for m in masks if m.end > start and m.start < end]
    for m in masks:
        cuts |= {max(m.start, start), min(m.end, end)}
    points = sorted(cuts)
    pieces: list[Piece] = [Piece(ELLIPSIS)] if start > 0 else []
    shown_mask: set[int] = set()
    for a, b in pairwise(points):
        if a >= b:
            continue
        hit = any(h0 <= a and b <= h1 for h0, h1 in hits)
        cover = next((i for i, m in enumerate(masks) if m.start <= a and b <= m.end), None)
        if cover is not None:
            if cover in shown_mask:
                if hit and pieces and pieces[-1].masked:
                    pieces[-1] = Piece(pieces[-1].text, True, True)
                continue
            shown_mask.add(cover)
            mask = masks[cover]
            hit = hit or any(h0 < mask.end and h1 > mask.start for h0, h1 in hits)
            pieces.append(Piece(mask.placeholder, hit, True))
            continue
        piece = Piece(text[a:b], hit)
        if pieces and pieces[-1].hit == piece.hit and not pieces[-1].masked and pieces[-1].text != ELLIPSIS:
            pieces[-1] = Piece(pieces[-1].text + piece.text, piece.hit)
        else:
            pieces.append(piece)
    if end < len(text):
        pieces.append(Piece(ELLIPSIS))
    return pieces


def plain(pieces: Sequence[Piece], mark: tuple[str, str] = ("[", "]")) -> str:
    """The pieces as one line of text, matching words between ``mark`` (for a terminal or a CSV)."""
    return "".join(f"{mark[0]}{p.text}{mark[1]}" if p.hit else p.text for p in pieces)
