"""Lemmatises normalised Russian words with pymorphy3 (the only module that imports pymorphy3).

Importing this module loads nothing: the dictionaries are loaded when a :class:`Lemmatizer` is built
(a fraction of a second, some 25 MB), so build one per process and pass it in, or call :func:`get_lemmatizer`.

Choosing the lemma: pymorphy3 gives every parse of a word a score (from the OpenCorpora frequencies). The
lemma whose parses score highest *in sum* wins (ties: the earlier parse), which picks «мой» over «мыть»
for «мою» the way the first parse does but also merges the many same-lemma parses of pronouns. Two
Universal Dependencies conventions are kept: a preposition with an added vowel keeps its form («со», «во»,
«обо»), and a few word forms have fixed lemmas listed in ``qa/text/data/lemmas.json`` («есть» → «быть»).
Lemmas come back in lower case with е for ё.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from functools import _CacheInfo

    import pymorphy3

_OVERRIDES_PATH = Path(__file__).parent / "data" / "lemmas.json"
DEFAULT_CACHE_SIZE = 200_000
_VOWEL_PREPOSITION = "Vpre"  # pymorphy3's grammeme for «со», «во», «обо»...
NAME_GRAMMEMES = ("Name", "Surn", "Patr")  # first name, surname, patronymic


def _load_overrides(path: Path = _OVERRIDES_PATH) -> dict[str, str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {_plain(form): _plain(lemma) for form, lemma in data["overrides"].items()}


def _plain(word: str) -> str:
    return word.lower().replace("ё", "е")


class Lemmatizer:
    """pymorphy3 with a bounded per-word cache. Thread-safe; build one per process (it loads dictionaries)."""

    def __init__(self, cache_size: int = DEFAULT_CACHE_SIZE, overrides: dict[str, str] | None = None) -> None:
        import pymorphy3

        self._morph: pymorphy3.MorphAnalyzer = pymorphy3.MorphAnalyzer()
        self._overrides = (
            _load_overrides() if overrides is None else {_plain(k): _plain(v) for k, v in overrides.items()}
        )
        self._cached_lemma = lru_cache(maxsize=cache_size)(self._analyse)
        self._cached_name_tags = lru_cache(maxsize=cache_size)(self._name_tags)
        self._cached_known = lru_cache(maxsize=cache_size)(self._morph.word_is_known)

    def _analyse(self, word: str) -> str:
        """The lemma of one word, uncached."""
        plain = _plain(word)
        if not plain:
            return plain
        fixed = self._overrides.get(plain)
        if fixed is not None:
            return fixed
        scores: dict[str, float] = defaultdict(float)
        for parse in self._morph.parse(plain):
            lemma = plain if _VOWEL_PREPOSITION in parse.tag else parse.normal_form
            scores[lemma] += parse.score
        if not scores:
            return plain
        # dicts keep insertion order and max() keeps the first of equal scores: ties go to the earlier parse
        return _plain(max(scores, key=scores.__getitem__))

    def _name_tags(self, word: str) -> dict[str, float]:
        scores: dict[str, float] = {}
        for parse in self._morph.parse(_plain(word)):
            for grammeme in NAME_GRAMMEMES:
                # dictionary parses only, except patronymics, which pymorphy3 guesses well from their suffix
                if grammeme in parse.tag and (parse.is_known or grammeme == "Patr"):
                    scores[grammeme] = scores.get(grammeme, 0.0) + parse.score
        return scores

    def name_tags(self, word: str) -> dict[str, float]:
        """Which of Name, Surn, Patr the parses of ``word`` carry, each with its summed parse score (0..1).

        The scores' sum is the share of the word's readings that are a person's name: «анна» → {'Name': 1.0},
        «вера» → {'Name': 0.3}; a word that is never a name gives an empty dict. Treat the result as read-only.
        """
        return self._cached_name_tags(word)

    def is_known(self, word: str) -> bool:
        """Whether the dictionary knows ``word`` (a normalised word), rather than guessing its parses: a
        misspelling («смернов») is unknown."""
        return self._cached_known(_plain(word))

    def lemma(self, word: str) -> str:
        """Lemma of one normalised word (lower case, е for ё), e.g. «руководителю» → «руководитель»."""
        return self._cached_lemma(word)

    def lemmas(self, words: Iterable[str]) -> list[str]:
        """Lemmas of several normalised words, in order."""
        lemma = self._cached_lemma
        return [lemma(word) for word in words]

    def cache_info(self) -> _CacheInfo:
        """Hits, misses, maximum and current size of the word cache."""
        return self._cached_lemma.cache_info()

    def cache_clear(self) -> None:
        """Empty the word cache (benchmarks use it to measure a cold start)."""
        self._cached_lemma.cache_clear()
        self._cached_name_tags.cache_clear()
        self._cached_known.cache_clear()


_shared: Lemmatizer | None = None
_shared_lock = threading.Lock()


def get_lemmatizer() -> Lemmatizer:
    """The process's shared :class:`Lemmatizer`, built on first call (thread-safe)."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = Lemmatizer()
    return _shared
