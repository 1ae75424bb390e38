"""A person's name said after an introduction cue, and whether it is the operator's own name.

Names are told by pymorphy3's Name grammeme (``Lemmatizer.name_tags``); the diminutive table
(``qa/text/data/diminutives.json``) makes «Саша» the same person as «Александр».
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Protocol

from qa.records import Token

DIMINUTIVES_PATH = Path(__file__).parent / "data" / "diminutives.json"
NAME_SHARE_MIN = 0.3  # share of a word's readings that are a first name («вера» 0.3, «анна» 1.0)
NAME_LOOKAHEAD = 2  # words after a cue a name may come («меня зовут, э, Анна»)
SLIP_MIN_RATIO = 0.65  # a capitalised word this close to one of the operator's own name forms is that name


class NameTagger(Protocol):
    def name_tags(self, word: str) -> dict[str, float]: ...
    def lemma(self, word: str) -> str: ...


class PersonTagger(Protocol):
    """Context-aware person names in cased text (:class:`qa.text.person_ner.PersonFinder`)."""

    def person_words(self, text: str) -> frozenset[str]: ...


@dataclass(frozen=True, slots=True)
class HeardName:
    """A first name found after a cue: its token index, surface and dictionary form."""

    index: int
    surface: str
    lemma: str


def _plain(word: str) -> str:
    return word.casefold().replace("ё", "е")


def load_diminutives(path: Path = DIMINUTIVES_PATH) -> dict[str, frozenset[str]]:
    """Every form → the set of forms of the same person (full name and diminutives)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    groups: dict[str, set[str]] = {}
    for full, forms in data.items():
        if full.startswith("_"):
            continue
        group = {_plain(full), *(_plain(f) for f in forms)}
        for form in group:
            groups.setdefault(form, set()).update(group)
    return {k: frozenset(v) for k, v in groups.items()}


def name_after(
    tokens: Sequence[Token], last: int, tagger: NameTagger | None, own_forms: frozenset[str] = frozenset(),
    person_words: frozenset[str] = frozenset(),
) -> HeardName | None:
    """The first name among the ``NAME_LOOKAHEAD`` tokens after index ``last``, or None.

    ``own_forms`` (the operator's name and its diminutives) also accepts an ASR slip of that name: a
    capitalised word at least ``SLIP_MIN_RATIO`` similar («Макцем» for «Максим»). ``person_words`` (words
    natasha tagged PER in the utterance) are names too, where neither test found one.
    """
    if tagger is None:
        return None
    window = range(last + 1, min(len(tokens), last + 1 + NAME_LOOKAHEAD))
    for i in window:
        tok = tokens[i]
        share = tagger.name_tags(tok.norm).get("Name", 0.0)
        capital = tok.text[:1].isupper()
        if share >= 1.0 or (share >= NAME_SHARE_MIN and capital):
            return HeardName(i, tok.text.strip(",.!?«»\"'"), tok.lemma)
    for i in window:
        tok = tokens[i]
        if tok.text[:1].isupper() and any(SequenceMatcher(None, tok.norm, f).ratio() >= SLIP_MIN_RATIO
                                          for f in own_forms):
            return HeardName(i, tok.text.strip(",.!?«»\"'"), max(own_forms, key=lambda f: SequenceMatcher(
                None, tok.norm, f).ratio()))
    for i in window:
        tok = tokens[i]
        if tok.text[:1].isupper() and tok.norm in person_words:
            return HeardName(i, tok.text.strip(",.!?«»\"'"), tok.lemma)
    return None


def own_forms(name: str | None, diminutives: dict[str, frozenset[str]]) -> frozenset[str]:
    """The operator's first name and every diminutive of it (empty without a name)."""
    if not name or not name.strip():
        return frozenset()
    first = _plain(name.split()[0])
    return frozenset({first, *diminutives.get(first, frozenset())})


def same_person(heard: str, expected: str, diminutives: dict[str, frozenset[str]]) -> bool:
    """Whether a heard first name (any form) is the expected one, diminutives included."""
    a, b = _plain(heard), _plain(expected.split()[0]) if expected.strip() else ""
    if not b:
        return False
    return a == b or b in diminutives.get(a, frozenset()) or a in diminutives.get(b, frozenset())
