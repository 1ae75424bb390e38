"""Normalises Russian text into words: lower case, ё→е, punctuation stripped, digits spelled out.

Rules, phrases and transcripts all pass through here, so they meet in the same form. Whisper's habits are
handled: a space before the hyphen of a particle («чем -нибудь» → «чем-нибудь»), digit groups joined by
hyphens («450-7231», «123-45-67» → separate numbers), «ёлочки», ellipses and dashes as separators. Word
lists (sign names, number endings) live in ``qa/text/data/normalize.json`` and are read on first use.

Speed: a token's words and a whole space-free chunk's ``(surface, word)`` pairs are kept in bounded
per-process tables, so a word seen before costs a dict look-up. A chunk is taken whole only when its tokens
cannot depend on its neighbours (see ``qa.text.tokenize.context_free``) and it cannot glue onto the word before
(it does not start with «-», a sign or a digit); any other text goes token by token, the reference path.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

from num2words import num2words

from qa.text.tokenize import chunk_tokens, clear_token_cache, context_free, split_tokens

_DATA_PATH = Path(__file__).parent / "data" / "normalize.json"
_LANG = "ru"
_MAX_NUMBER_DIGITS = 15  # longer digit runs are read digit by digit
_MAX_FRACTION_DIGITS = 6  # longer fractions are read as separate numbers

# Characters dropped or unified before anything else: stress marks, soft hyphens, zero-width spaces,
# typographic hyphens and apostrophes.
_DROP = dict.fromkeys(map(ord, "\u0301\u0300\u00ad\u200b\u200c\u200d\u2060\ufeff"))
_UNIFY = {ord("\u2010"): "-", ord("\u2011"): "-", ord("\u2019"): "'", ord("\u02bc"): "'", ord("`"): "'"}
_TRANSLATE = {**_DROP, **_UNIFY}
_THOUSANDS_SPACES = ("\u00a0", "\u202f", "\u2009")
_THOUSANDS_SPACE = re.compile(r"(?<=\d)[\u00a0\u202f\u2009](?=\d{3}(?!\d))")
_DETACHED_HYPHEN = re.compile(r"(?<=[^\W\d_])\s+-(?=[^\W\d_])")
_PIECES = re.compile(
    r"(?P<number>\d+(?:[.,]\d+)*)(?:-(?P<suffix>[^\W\d_]+))?"
    r"|(?P<word>[^\W\d_]+(?:['-][^\W\d_]+)*)"
    r"|(?P<other>[^\w\s])"
)
_DETACHED_PART = re.compile(r"^\s*-[^\W\d_]+$")
_CACHE_LIMIT = 100_000  # tokens and chunks remembered by each table (then it starts again)


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    """The word lists of ``qa/text/data/normalize.json``."""

    ordinal_suffixes: frozenset[str]
    cardinal_suffixes: frozenset[str]
    cardinal_suffixes_after_few: frozenset[str]
    signs: dict[str, tuple[str, str, str]]


@cache
def _vocabulary() -> _Vocabulary:
    data = json.loads(_DATA_PATH.read_text(encoding="utf-8"))
    return _Vocabulary(
        ordinal_suffixes=frozenset(data["ordinal_suffixes"]),
        cardinal_suffixes=frozenset(data["cardinal_suffixes"]),
        cardinal_suffixes_after_few=frozenset(data["cardinal_suffixes_after_2_3_4"]),
        signs={sign: tuple(forms) for sign, forms in data["signs"].items()},
    )


def _clean(token: str) -> str:
    """Lower case, ё→е, stress marks and invisible characters dropped, hyphens unified."""
    text = unicodedata.normalize("NFC", token).translate(_TRANSLATE).lower().replace("ё", "е")
    text = _THOUSANDS_SPACE.sub("", text)
    return _DETACHED_HYPHEN.sub("-", text)


def _cardinal(digits: str) -> list[str]:
    """Words of a digit run; leading zeros are read one by one («007» → «ноль ноль семь»)."""
    significant = digits.lstrip("0")
    words = num2words(0, lang=_LANG).split() * (len(digits) - len(significant))
    if len(significant) > _MAX_NUMBER_DIGITS:
        for digit in significant:
            words.extend(num2words(int(digit), lang=_LANG).split())
    elif significant:
        words.extend(num2words(int(significant), lang=_LANG).split())
    return words


def _ordinal(digits: str) -> list[str]:
    if len(digits) > _MAX_NUMBER_DIGITS or int(digits) == 0:
        return _cardinal(digits)
    return num2words(int(digits), lang=_LANG, to="ordinal").split()


def _plural_form(number: str) -> int:
    """Index of the Russian number form after ``number``: 0 after 1, 1 after 2-4 or a fraction, else 2."""
    if not number.isdigit():
        return 1
    value = int(number[-2:])
    if value % 10 == 1 and value != 11:
        return 0
    if 2 <= value % 10 <= 4 and not 12 <= value <= 14:
        return 1
    return 2


def _number(chain: str, suffix: str | None) -> tuple[list[str], str]:
    """Words of a number written as digits (with an optional ``-suffix``), and the number as read."""
    groups = re.split(r"[.,]", chain)
    if len(groups) == 2 and len(groups[1]) <= _MAX_FRACTION_DIGITS and len(groups[0]) <= _MAX_NUMBER_DIGITS:
        words = num2words(Decimal(f"{int(groups[0])}.{groups[1]}"), lang=_LANG).split()
        return words, chain
    if len(groups) > 1:  # dates, versions: each group on its own
        return [word for group in groups for word in _cardinal(group)], groups[-1]
    if suffix is None:
        return _cardinal(chain), chain
    vocabulary = _vocabulary()
    few = chain[-1] in "234" and chain[-2:-1] != "1"
    if suffix in vocabulary.cardinal_suffixes or (few and suffix in vocabulary.cardinal_suffixes_after_few):
        return _cardinal(chain), chain
    if suffix in vocabulary.ordinal_suffixes:
        return _ordinal(chain), chain
    return [*_cardinal(chain), suffix], ""


def normalize_word(token: str) -> list[str]:
    """One surface token → its normalised words (zero for punctuation, several for numbers)."""
    return list(_words_of(token))


def _normalized_words(token: str) -> tuple[str, ...]:
    """The words of ``normalize_word``, uncached."""
    signs = _vocabulary().signs
    words: list[str] = []
    last_number = ""
    for piece in _PIECES.finditer(_clean(token)):
        if piece["number"]:
            number_words, last_number = _number(piece["number"], piece["suffix"])
            words.extend(number_words)
        elif piece["word"]:
            words.append(piece["word"])
            last_number = ""
        elif piece["other"] in signs:
            forms = signs[piece["other"]]
            words.append(forms[_plural_form(last_number)] if last_number else forms[0])
            last_number = ""
    return tuple(words)


_words_cache: dict[str, tuple[str, ...]] = {}


def _words_of(token: str) -> tuple[str, ...]:
    """``normalize_word`` through a bounded per-process table (a token's words never change)."""
    words = _words_cache.get(token)
    if words is None:
        words = _normalized_words(token)
        if len(_words_cache) >= _CACHE_LIMIT:
            _words_cache.clear()
        _words_cache[token] = words
    return words


def clear_caches() -> None:
    """Forget every token seen so far (the word table here and the tokenizer's chunk table)."""
    _words_cache.clear()
    _chunk_pairs.clear()
    clear_token_cache()


def is_detached_hyphen_part(token: str) -> bool:
    """True for a token like «-нибудь» / «-то»: the end of a hyphenated word that Whisper wrote apart.

    Code that normalises Whisper's words one at a time should glue such a word onto the one before it.
    """
    return bool(_DETACHED_PART.match(token))


def _glues(previous: str, gap: str, surface: str) -> bool:
    """Whether razdel's token ``surface`` belongs to the token before it."""
    if is_detached_hyphen_part(surface):  # «чем -нибудь»
        return previous[-1:].isalpha() and (gap == "" or gap.isspace())
    if surface in _vocabulary().signs:  # «25 %»
        return previous[-1:].isdigit() and (gap == "" or gap.isspace())
    # «1 000 000» grouped by non-breaking or thin spaces (a plain space may part phone digit groups)
    return surface.isdigit() and len(surface) == 3 and previous[-1:].isdigit() and gap in _THOUSANDS_SPACES


@cache
def _glue_starts() -> frozenset[str]:
    """First characters of the tokens that may glue onto the one before: «-», the signs, digits (tested apart)."""
    return frozenset("-").union(sign[:1] for sign in _vocabulary().signs)


def _merged_tokens(text: str) -> list[str]:
    """razdel's tokens, with Whisper's detached hyphen parts and a sign after its number glued back on."""
    starts = _glue_starts()
    merged: list[str] = []
    spans: list[list[int]] = []
    for surface, start, stop in split_tokens(text):
        head = surface[0]
        if spans and (head in starts or head.isdigit()):
            last = spans[-1]
            if _glues(text[last[0] : last[1]], text[last[1] : start], surface):
                last[1] = stop
                merged[-1] = text[last[0] : stop]
                continue
        spans.append([start, stop])
        merged.append(surface)
    return merged


def _split_normalized(text: str) -> list[tuple[str, str]]:
    """``split_normalized`` token by token (the reference; the fast path takes whole chunks)."""
    words = _words_of
    return [(surface, word) for surface in _merged_tokens(text) for word in words(surface)]


_Pairs = tuple[tuple[str, str], ...]
_chunk_pairs: dict[str, _Pairs | None] = {}  # None: the chunk depends on its neighbours


def _chunk_of_its_own(chunk: str) -> _Pairs | None:
    """The pairs of a space-free chunk that neither depends on its neighbours' tokens nor glues onto them,
    else None. Its next chunk cannot glue onto it either: a chunk that glues on is not one of these."""
    head = chunk[0]
    if head in _glue_starts() or head.isdigit() or not context_free(chunk):
        return None
    words = _words_of
    merged = _merged_tokens(chunk) if len(chunk_tokens(chunk)) > 1 else [chunk]
    return tuple((surface, word) for surface in merged for word in words(surface))


def split_normalized(text: str) -> list[tuple[str, str]]:
    """The whole text → ``(surface token, normalised word)`` pairs in order; punctuation yields none."""
    pairs: list[tuple[str, str]] = []
    table = _chunk_pairs
    for chunk in text.split():
        found = table.get(chunk, False)
        if found is False:
            found = _chunk_of_its_own(chunk)
            if len(table) >= _CACHE_LIMIT:
                table.clear()
            table[chunk] = found
        if found is None:
            return _split_normalized(text)
        pairs += found
    return pairs


def normalize_text(text: str) -> str:
    """The normalised words of ``text`` joined by single spaces."""
    return " ".join(word for _, word in split_normalized(text))
