"""The tokens every detector reads: numbers, words, punctuation, numeric dates and digit ordinals, with their spans.

A numeric date («12.03.1985») is one ``date`` token and a number glued to a case ending («85-го») one ``ordinal``
token, so neither is read as a digit run. Word tokens carry their plain form (:func:`~.lexicon.plain`) and lemma.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from qa.text.redaction.lexicon import plain

TokenRange = tuple[int, int]  # first and last token index, inclusive

SENTENCE_END = frozenset(".!?…")
_NUMERIC_DATE = re.compile(r"(?<![\d.,/])(\d{1,2})([./])(\d{1,2})\2(\d{4}|\d{2})(?![\d/]|[.,]\d)")
_TOKEN = re.compile(r"(?P<num>\d+)|(?P<word>[^\W\d_]+)|(?P<punct>\S)")


@dataclass(frozen=True, slots=True)
class Token:
    """One token of an utterance and where it lies in it (``text[start:end]``)."""

    kind: str  # num | word | punct | date (a numeric date «12.03.1985») | ordinal (a digit ordinal «85-го»)
    text: str
    norm: str
    lemma: str
    start: int
    end: int


def tokenize(text: str, lemma: Callable[[str], str], ordinal_suffixes: frozenset[str]) -> list[Token]:
    """The tokens of ``text``; ``lemma`` lemmatises a plain word, ``ordinal_suffixes`` are the endings of «85-го»."""
    tokens: list[Token] = []
    dates = [m for m in _NUMERIC_DATE.finditer(text) if _valid_date(m)]
    position = 0
    for date in [*dates, None]:
        stop = date.start() if date else len(text)
        for match in _TOKEN.finditer(text, position, stop):
            kind = match.lastgroup or "punct"
            surface = match.group()
            norm = plain(surface)
            tokens.append(Token(kind, surface, norm, lemma(norm) if kind == "word" else norm,
                                match.start(), match.end()))
        if date:
            tokens.append(Token("date", date.group(), date.group(), date.group(), date.start(), date.end()))
            position = date.end()
    return merge_digit_ordinals(text, tokens, ordinal_suffixes)


def merge_digit_ordinals(text: str, tokens: list[Token], ordinal_suffixes: frozenset[str]) -> list[Token]:
    """«85-го» as one ``ordinal`` token: a year or day in digits with a case ending is no digit run."""
    if not any(token.text == "-" for token in tokens):
        return tokens
    merged: list[Token] = []
    index = 0
    while index < len(tokens):
        number, *rest = tokens[index:index + 3]
        if (len(rest) == 2 and number.kind == "num" and rest[0].text == "-" and rest[1].kind == "word"
                and number.end == rest[0].start and rest[0].end == rest[1].start
                and rest[1].norm in ordinal_suffixes):
            merged.append(Token("ordinal", text[number.start:rest[1].end], number.text, number.text,
                                number.start, rest[1].end))
            index += 3
        else:
            merged.append(number)
            index += 1
    return merged


def in_words(token: Token, words: frozenset[str]) -> bool:
    """True when the token's plain form or its lemma is one of ``words``."""
    return token.norm in words or token.lemma in words


def _valid_date(match: re.Match[str]) -> bool:
    day, month = int(match.group(1)), int(match.group(3))
    return 1 <= day <= 31 and 1 <= month <= 12
