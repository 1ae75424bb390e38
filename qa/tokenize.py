"""Splits Russian text into tokens with character offsets (the only module that imports razdel)."""

from __future__ import annotations

from razdel import tokenize as _razdel_tokenize


def split_tokens(text: str) -> list[tuple[str, int, int]]:
    """All razdel tokens of ``text``, punctuation included, as ``(surface, start, stop)``."""
    return [(token.text, token.start, token.stop) for token in _razdel_tokenize(text)]


def is_word(surface: str) -> bool:
    """True when a token holds at least one letter or digit (so is not pure punctuation or symbols)."""
    return any(char.isalnum() for char in surface)


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Word tokens of ``text`` as ``(surface, start, stop)`` char offsets, pure punctuation left out."""
    return [token for token in split_tokens(text) if is_word(token[0])]
