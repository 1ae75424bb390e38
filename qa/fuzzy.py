"""Fuzzy string comparison (rapidfuzz), the one module that imports it: the phrase matcher's word and phrase
scores, and the «did you mean» hint every stage gives for a mistyped name."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rapidfuzz import fuzz, process


def close_keys(query: str, keys: Iterable[str], floor: float) -> list[tuple[str, float]]:
    """Every key whose similarity to ``query`` (rapidfuzz ``ratio``, 0–100) reaches ``floor``, with its score."""
    return [(key, score) for key, score, _ in process.extract(query, keys, scorer=fuzz.ratio, score_cutoff=floor,
                                                              limit=None)]


def partial_alignment(pattern: str, text: str, cutoff: float) -> Any:
    """Where ``pattern`` best aligns inside ``text`` (``dest_start``/``dest_end``/``score``), or ``None`` below
    ``cutoff`` (rapidfuzz ``partial_ratio_alignment``)."""
    return fuzz.partial_ratio_alignment(pattern, text, score_cutoff=cutoff)


def nearest_name(value: str, known: Sequence[str], cutoff: float = 60.0) -> str | None:
    """The known name closest to a mistyped ``value`` (case and ё ignored), or ``None`` when none is close."""
    if not value or not known:
        return None
    fold = {k: k.casefold().replace("ё", "е") for k in known}
    hit = process.extractOne(value.casefold().replace("ё", "е"), fold, scorer=fuzz.WRatio, score_cutoff=cutoff)
    return hit[2] if hit else None
