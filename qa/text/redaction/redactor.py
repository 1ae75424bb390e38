"""The redactor: runs the detectors over one utterance, replaces what they find, and maps it onto word times.

The detectors run in a fixed order and each claims its tokens, so a later one never takes what an earlier one has:
typed e-mails, dictated e-mails, dates of birth, postal addresses (before the numbers, which would otherwise take
a postcode, and the names, which would take a street named after a person), identity numbers, names.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.records import Word
from qa.text.lemmatizer import Lemmatizer, get_lemmatizer
from qa.text.redaction.addresses import Addresses
from qa.text.redaction.dates import BirthDates
from qa.text.redaction.emails import DictatedEmails, typed_emails
from qa.text.redaction.fields import redact_value
from qa.text.redaction.lexicon import DATA_PATH, load_rules, plain
from qa.text.redaction.names import Names
from qa.text.redaction.numbers import Numbers
from qa.text.redaction.tokens import tokenize

MUTE_PAD_S = 0.1  # seconds beeped beyond a word's ASR times on each side (word times are off by that much)
KINDS: tuple[str, ...] = ("phone", "card", "email", "passport", "inn", "snils", "birth_date", "name", "number",
                          "address")


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """One piece of personal data: its kind and ``text[start:end]`` of the original text."""

    kind: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Redaction:
    """A redacted text and the spans of the original that were replaced."""

    text: str
    spans: tuple[PiiSpan, ...]


class Redactor:
    """Finds and replaces personal data; build once (it holds the lemmatiser and the word lists)."""

    def __init__(self, lemmatizer: Lemmatizer | None = None, rules_path: Path = DATA_PATH) -> None:
        self._lemmatizer = lemmatizer or get_lemmatizer()
        self._rules = load_rules(rules_path)
        self._emails = DictatedEmails(self._rules)
        self._birth_dates = BirthDates(self._rules)
        self._addresses = Addresses(self._rules)
        self._numbers = Numbers(self._rules)
        self._names = Names(self._rules, self._lemmatizer)

    def find(self, text: str) -> list[PiiSpan]:
        """The personal data spans of ``text``, in order, not overlapping."""
        tokens = tokenize(text, self._lemmatizer.lemma, self._rules.ordinal_suffixes)
        taken = [False] * len(tokens)
        spans: list[PiiSpan] = []

        def claim(kind: str, first: int, last: int) -> None:
            for index in range(first, last + 1):
                taken[index] = True
            start, end = tokens[first].start, tokens[last].end
            spans.append(PiiSpan(kind, start, end, text[start:end]))

        for first, last in typed_emails(text, tokens):
            claim("email", first, last)
        for first, last in self._emails.find(tokens, taken):
            claim("email", first, last)
        for first, last in self._birth_dates.find(tokens, taken):
            claim("birth_date", first, last)
        for first, last in self._addresses.find(tokens, taken):
            claim("address", first, last)
        for kind, (first, last) in self._numbers.find(tokens, taken):
            claim(kind, first, last)
        for first, last in self._names.find(tokens, taken):
            claim("name", first, last)
        spans.sort(key=lambda span: span.start)
        return spans

    def redact(self, text: str) -> Redaction:
        """``text`` with every span found replaced by its kind's placeholder."""
        spans = tuple(self.find(text))
        return Redaction(replace_spans(text, spans, self._rules.placeholders), spans)

    def redact_fields(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Named values (a conversation's metadata) with their personal data replaced: the whole value for a key
        that names a kind («caller_number», «client_email»), the redacted text otherwise
        (:mod:`qa.text.redaction.fields`)."""
        rules = self._rules
        return {key: redact_value(str(key), value, rules.field_kinds, rules.placeholders,
                                  lambda text: self.redact(text).text) for key, value in fields.items()}

    def placeholder(self, kind: str) -> str:
        """The placeholder of a kind, e.g. ``phone`` → «[ТЕЛЕФОН]»."""
        return self._rules.placeholders[kind]

    def silence_ranges(self, text: str, words: Sequence[Word]) -> list[tuple[float, float]]:
        """Time ranges of ``words`` (the utterance's word timestamps) that hold personal data."""
        return silence_ranges(text, words, self.find(text))

    def mute_ranges(self, turns: Iterable[tuple[str, Sequence[Word], float, float]]) -> list[tuple[float, float]]:
        """The times to beep in a recording, from its turns (text, word timings, start, end): see
        :func:`turn_mute_ranges`. In time order, overlapping ones merged."""
        ranges = [r for text, words, start, end in turns for r in turn_mute_ranges(text, words, start, end,
                                                                                   self.find(text))]
        merged: list[tuple[float, float]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged


def replace_spans(text: str, spans: Sequence[PiiSpan], placeholders: dict[str, str]) -> str:
    """``text`` with each span replaced by its kind's placeholder (spans in order, not overlapping)."""
    pieces: list[str] = []
    position = 0
    for span in sorted(spans, key=lambda s: s.start):
        if span.start < position:
            continue
        pieces.append(text[position:span.start])
        pieces.append(placeholders[span.kind])
        position = span.end
    pieces.append(text[position:])
    return "".join(pieces)


def _word_offsets(text: str, words: Sequence[Word]) -> list[tuple[int, int] | None]:
    """Where each word lies in ``text`` (char offsets), matching their letters and digits in order.

    Whisper's words usually concatenate to the utterance text; when they do not quite (case, punctuation,
    a changed word), the letters and digits still matched place the words, and a word none of whose
    characters matched gets None.
    """
    text_chars = [(i, plain(c)) for i, c in enumerate(text) if c.isalnum()]
    word_chars = [(w, plain(c)) for w, word in enumerate(words) for c in word.text if c.isalnum()]
    matcher = difflib.SequenceMatcher(None, [c for _, c in word_chars], [c for _, c in text_chars], autojunk=False)
    offsets: list[list[int] | None] = [None] * len(words)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            word_index = word_chars[block.a + k][0]
            char_index = text_chars[block.b + k][0]
            place = offsets[word_index]
            if place is None:
                offsets[word_index] = [char_index, char_index + 1]
            else:
                place[0], place[1] = min(place[0], char_index), max(place[1], char_index + 1)
    return [(place[0], place[1]) if place else None for place in offsets]


def turn_mute_ranges(text: str, words: Sequence[Word], start: float, end: float,
                     spans: Sequence[PiiSpan]) -> list[tuple[float, float]]:
    """The times to beep in one turn that holds ``spans``: its words that hold them (:func:`silence_ranges`,
    widened by :data:`MUTE_PAD_S` for the slack of ASR word times), or the whole turn (``start``–``end``) when it
    has no word timings or none of them could be placed. Nothing when there are no spans."""
    if not spans:
        return []
    ranges = silence_ranges(text, words, spans) if words else []
    if not ranges:
        return [(start, end)]
    return [(max(0.0, a - MUTE_PAD_S), b + MUTE_PAD_S) for a, b in ranges]


def silence_ranges(text: str, words: Sequence[Word], spans: Sequence[PiiSpan]) -> list[tuple[float, float]]:
    """The ``(start, end)`` times to silence: the words of ``text`` that overlap a span, consecutive ones merged.

    A word only partly inside a span (a phone number glued to a comma) is silenced whole.
    """
    if not spans or not words:
        return []
    offsets = _word_offsets(text, words)
    ranges: list[tuple[float, float]] = []
    previous_hit = False
    for word, place in zip(words, offsets, strict=True):
        hit = place is not None and any(span.start < place[1] and place[0] < span.end for span in spans)
        if hit:
            if previous_hit:
                ranges[-1] = (ranges[-1][0], max(ranges[-1][1], word.end))
            else:
                ranges.append((word.start, word.end))
        previous_hit = hit or (previous_hit and place is None)
    return ranges


_shared: Redactor | None = None
_shared_lock = threading.Lock()


def get_redactor() -> Redactor:
    """The process's shared :class:`Redactor`, built on first call (thread-safe)."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = Redactor()
    return _shared
