"""The redactor's word lists, read from ``qa/text/data/pii.json``: placeholders, number words, cue words, fillers.

Every Russian word the detectors know lives in that file; this module only reads it, lower-cases it and turns ё into
е (:func:`plain`), and groups multi-word phrases by their first word for the number dictation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_PATH = Path(__file__).parent.parent / "data" / "pii.json"  # qa/text/data, beside the package

Phrases = dict[str, tuple[tuple[str, ...], ...]]  # first word → the phrases it starts, as word tuples


@dataclass(frozen=True, slots=True)
class AddressWords:
    """The words of postal addresses (``address`` in ``qa/text/data/pii.json``), forms and lemmas alike."""

    street_types: frozenset[str]
    settlement_types: frozenset[str]
    region_types: frozenset[str]
    house_words: frozenset[str]
    unit_words: frozenset[str]
    letter_units: frozenset[str]
    stop_words: frozenset[str]
    business_cues: frozenset[str]
    person_cues: frozenset[str]
    business_window: int


@dataclass(frozen=True, slots=True)
class Rules:
    """The word lists of ``qa/text/data/pii.json``."""

    placeholders: dict[str, str]
    number_words: dict[str, int]  # cardinals and digit nouns
    thousand: frozenset[str]
    million: frozenset[str]
    plus: frozenset[str]
    ordinals: dict[str, int]
    ordinal_suffixes: frozenset[str]
    months: frozenset[str]
    year_words: frozenset[str]
    birth_cues: frozenset[str]
    birth_cue_stems: tuple[str, ...]
    birth_cue_heads: frozenset[str]
    birth_year_subjects: frozenset[str]
    birth_year_forms: frozenset[str]
    date_prepositions: frozenset[str]
    number_cues: dict[str, str]  # cue lemma → kind
    number_fillers: Phrases
    number_corrections: Phrases
    amount_words: frozenset[str]
    at_words: frozenset[str]
    dot_words: frozenset[str]
    joiner_words: frozenset[str]
    domain_words: frozenset[str]
    tld_words: frozenset[str]
    email_stop_words: frozenset[str]
    name_cues: frozenset[str]
    capital_name_cues: frozenset[str]
    surname_cues: frozenset[str]
    surname_cue_fillers: frozenset[str]
    weak_name_cues: frozenset[str]
    name_cue_stop_words: frozenset[str]
    address_words: frozenset[str]
    locative_prepositions: frozenset[str]
    locative_endings: tuple[str, ...]
    name_blockers: frozenset[str]
    name_blocker_forms: frozenset[str]
    field_kinds: dict[str, tuple[tuple[tuple[str, ...], str], ...]]  # a metadata key's first word → (phrase, kind)
    address: AddressWords


def plain(word: str) -> str:
    """``word`` lower-cased with ё read as е, the form every word list and token is compared in."""
    return word.lower().replace("ё", "е")


def _words(items: Sequence[str]) -> frozenset[str]:
    return frozenset(plain(item) for item in items)


def _phrases(items: Sequence[str]) -> Phrases:
    """Phrases by their first word, longest first (so «а дальше» is tried before a shorter «а …»)."""
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for phrase in sorted({tuple(plain(item).split()) for item in items}, key=len, reverse=True):
        by_first.setdefault(phrase[0], []).append(phrase)
    return {first: tuple(phrases) for first, phrases in by_first.items()}


@cache
def load_rules(path: Path = DATA_PATH) -> Rules:
    """The redaction word lists, read once per path."""
    data = json.loads(path.read_text(encoding="utf-8"))
    email = data["email"]
    number_words = {plain(k): int(v) for k, v in {**data["cardinals"], **data["digit_nouns"]}.items()}
    return Rules(
        placeholders=dict(data["placeholders"]),
        number_words=number_words,
        thousand=_words(data["thousand"]),
        million=_words(data["million"]),
        plus=_words(data["plus"]),
        ordinals={plain(k): int(v) for k, v in data["ordinals"].items()},
        ordinal_suffixes=_words(data["ordinal_suffixes"]),
        months=_words(data["months"]),
        year_words=_words(data["year_words"]),
        birth_cues=_words(data["birth_cues"]),
        birth_cue_stems=tuple(_words(data["birth_cue_stems"])),
        birth_cue_heads=_words(data["birth_cue_heads"]),
        birth_year_subjects=_words(data["birth_year_subjects"]),
        birth_year_forms=_words(data["birth_year_forms"]),
        date_prepositions=_words(data["date_prepositions"]),
        number_cues={plain(cue): kind for kind, cues in data["number_cues"].items() for cue in cues},
        number_fillers=_phrases(data["number_fillers"]),
        number_corrections=_phrases(data["number_corrections"]),
        amount_words=_words(data["amount_words"]),
        at_words=_words(email["at_words"]),
        dot_words=_words(email["dot_words"]),
        joiner_words=_words(email["joiner_words"]),
        domain_words=_words(email["domain_words"]),
        tld_words=_words(email["tld_words"]),
        email_stop_words=_words(email["stop_words"]),
        name_cues=_words(data["name_cues"]),
        capital_name_cues=_words(data["capital_name_cues"]),
        surname_cues=_words(data["surname_cues"]),
        surname_cue_fillers=_words(data["surname_cue_fillers"]),
        weak_name_cues=_words(data["weak_name_cues"]),
        name_cue_stop_words=_words(data["name_cue_stop_words"]),
        address_words=_words(data["address_words"]),
        locative_prepositions=_words(data["locative_prepositions"]),
        locative_endings=tuple(_words(data["locative_endings"])),
        name_blockers=_words(data["name_blockers"]),
        name_blocker_forms=_words(data["name_blocker_forms"]),
        field_kinds=_field_kinds(data["field_kinds"]),
        address=AddressWords(**{key: value if key == "business_window" else _words(value)
                                for key, value in data["address"].items()}),
    )


def _field_kinds(kinds: dict[str, list[str]]) -> dict[str, tuple[tuple[tuple[str, ...], str], ...]]:
    """Metadata key phrases by their first word, longest first, each with its kind."""
    by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for kind, phrases in kinds.items():
        for phrase in phrases:
            words = tuple(plain(phrase).split())
            by_first.setdefault(words[0], []).append((words, kind))
    return {first: tuple(sorted(found, key=lambda item: -len(item[0]))) for first, found in by_first.items()}
