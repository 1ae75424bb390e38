"""Finds personal data in Russian utterances and replaces it with typed placeholders ([ТЕЛЕФОН], [ИМЯ]…).

Kinds: ``phone``, ``card``, ``email``, ``passport``, ``inn``, ``snils``, ``birth_date``, ``name`` and
``number`` (any other run of 7 digits or more: account, contract and order numbers). Numbers are read the
same whether written in digits or spelled in words the way Whisper writes them and people say them
(«8 916 123-45-67», «восемь девятьсот шестнадцать сто двадцать три…», «девять один шесть…», mixed): a run of
digit groups and number words becomes one digit string, classified by its length, its first digit, its
layout and the cue words before it («карта», «ИНН», «серия»…). Dates count as dates of birth only next to
a birth cue («родилась», «дата рождения», «года рождения»). E-mails are found typed or dictated
(«иван точка петров собака мейл точка ру»). Names come from pymorphy3's Name/Surn/Patr tags (through
:mod:`qa.lemmatizer`): a word read as a name almost always («анна», «иванович») is one in any case; a word
that is often a common noun («вера», «роман», «лев») only when capitalised mid-sentence, after a cue
(«зовут», «на имя», «фамилия») or next to another name part; none after a street, work or company word
(«улица Ленина», «роман Толстого»). Addresses are not redacted.

All Russian words live in ``qa/data/pii.json``, read on first use. :func:`silence_ranges` maps the spans
onto word timestamps, for silencing or beeping them in audio.
"""

from __future__ import annotations

import difflib
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from qa.lemmatizer import Lemmatizer, get_lemmatizer
from qa.records import Word

_DATA_PATH = Path(__file__).parent / "data" / "pii.json"

KINDS: tuple[str, ...] = ("phone", "card", "email", "passport", "inn", "snils", "birth_date", "name", "number")
MIN_NUMBER_DIGITS = 7  # a run this long is never left in the text
CUE_WINDOW = 6  # words looked back from a digit run for its cue
STRONG_NAME_SHARE = 0.8  # a word read as a name this often is a name in any case and place
WEAK_NAME_SHARE = 0.25  # below this even a capitalised word is not taken for a name
_BIRTH_SKIP = 2  # words between a birth cue and the date after it («родилась в …», «рождения: …»)

_TYPED_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NUMERIC_DATE = re.compile(r"(?<![\d.,/])(\d{1,2})([./])(\d{1,2})\2(\d{4}|\d{2})(?![\d/]|[.,]\d)")
_TOKEN = re.compile(r"(?P<num>\d+)|(?P<word>[^\W\d_]+)|(?P<punct>\S)")
_RUN_SEPARATORS = frozenset("-()+,–—")
_SENTENCE_END = frozenset(".!?…")
_SNILS_LAYOUT = (3, 3, 3, 2)
_CENTURIES = ("19", "20")  # the first digits of a year of birth written in digits
_DATE_LEAD_PUNCT = frozenset(":—-")  # may stand between a birth cue and the date after it


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


@dataclass(frozen=True, slots=True)
class _Rules:
    """The word lists of ``qa/data/pii.json``."""

    placeholders: dict[str, str]
    number_words: dict[str, int]  # cardinals and digit nouns
    thousand: frozenset[str]
    plus: frozenset[str]
    ordinals: dict[str, int]
    months: frozenset[str]
    year_words: frozenset[str]
    birth_cues: frozenset[str]
    number_cues: dict[str, str]  # cue lemma → kind
    at_words: frozenset[str]
    dot_words: frozenset[str]
    joiner_words: frozenset[str]
    domain_words: frozenset[str]
    tld_words: frozenset[str]
    email_stop_words: frozenset[str]
    name_cues: frozenset[str]
    name_blockers: frozenset[str]
    name_blocker_forms: frozenset[str]


def _plain(word: str) -> str:
    return word.lower().replace("ё", "е")


def _words(items: Sequence[str]) -> frozenset[str]:
    return frozenset(_plain(item) for item in items)


@cache
def load_rules(path: Path = _DATA_PATH) -> _Rules:
    """The redaction word lists, read once per path."""
    data = json.loads(path.read_text(encoding="utf-8"))
    email = data["email"]
    number_words = {_plain(k): int(v) for k, v in {**data["cardinals"], **data["digit_nouns"]}.items()}
    return _Rules(
        placeholders=dict(data["placeholders"]),
        number_words=number_words,
        thousand=_words(data["thousand"]),
        plus=_words(data["plus"]),
        ordinals={_plain(k): int(v) for k, v in data["ordinals"].items()},
        months=_words(data["months"]),
        year_words=_words(data["year_words"]),
        birth_cues=_words(data["birth_cues"]),
        number_cues={_plain(cue): kind for kind, cues in data["number_cues"].items() for cue in cues},
        at_words=_words(email["at_words"]),
        dot_words=_words(email["dot_words"]),
        joiner_words=_words(email["joiner_words"]),
        domain_words=_words(email["domain_words"]),
        tld_words=_words(email["tld_words"]),
        email_stop_words=_words(email["stop_words"]),
        name_cues=_words(data["name_cues"]),
        name_blockers=_words(data["name_blockers"]),
        name_blocker_forms=_words(data["name_blocker_forms"]),
    )


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # num | word | punct | date (a numeric date «12.03.1985» taken as one token)
    text: str
    norm: str
    lemma: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _NumberRun:
    first: int  # token indices, inclusive
    last: int
    digits: str
    layout: tuple[int, ...]  # digit counts of the written digit groups, () when words were spoken
    plus: bool
    quantity: bool  # holds «тысяча»: an amount or a year unless it is long


class Redactor:
    """Finds and replaces personal data; build once (it holds the lemmatiser and the word lists)."""

    def __init__(self, lemmatizer: Lemmatizer | None = None, rules_path: Path = _DATA_PATH) -> None:
        self._lemmatizer = lemmatizer or get_lemmatizer()
        self._rules = load_rules(rules_path)

    # ---- public API -------------------------------------------------------------------------------------

    def find(self, text: str) -> list[PiiSpan]:
        """The personal data spans of ``text``, in order, not overlapping."""
        tokens = self._tokenize(text)
        taken = [False] * len(tokens)
        spans: list[PiiSpan] = []

        def claim(kind: str, first: int, last: int) -> None:
            for index in range(first, last + 1):
                taken[index] = True
            start, end = tokens[first].start, tokens[last].end
            spans.append(PiiSpan(kind, start, end, text[start:end]))

        for match in _TYPED_EMAIL.finditer(text):
            inside = [i for i, t in enumerate(tokens) if t.start >= match.start() and t.end <= match.end()]
            if inside:
                claim("email", inside[0], inside[-1])
        for first, last in self._dictated_emails(tokens, taken):
            claim("email", first, last)
        for first, last in self._birth_dates(tokens, taken):
            claim("birth_date", first, last)
        runs = self._number_runs(tokens, taken)
        for run in runs:
            kind = self._classify(tokens, run, runs)
            if kind is not None:
                claim(kind, run.first, run.last)
        for first, last in self._names(tokens, taken):
            claim("name", first, last)
        spans.sort(key=lambda span: span.start)
        return spans

    def redact(self, text: str) -> Redaction:
        """``text`` with every span found replaced by its kind's placeholder."""
        spans = tuple(self.find(text))
        return Redaction(replace_spans(text, spans, self._rules.placeholders), spans)

    def placeholder(self, kind: str) -> str:
        """The placeholder of a kind, e.g. ``phone`` → «[ТЕЛЕФОН]»."""
        return self._rules.placeholders[kind]

    def silence_ranges(self, text: str, words: Sequence[Word]) -> list[tuple[float, float]]:
        """Time ranges of ``words`` (the utterance's word timestamps) that hold personal data."""
        return silence_ranges(text, words, self.find(text))

    # ---- tokens -------------------------------------------------------------------------------------------

    def _tokenize(self, text: str) -> list[_Token]:
        lemma = self._lemmatizer.lemma
        tokens: list[_Token] = []
        dates = [m for m in _NUMERIC_DATE.finditer(text) if _valid_date(m)]
        position = 0
        for date in [*dates, None]:
            stop = date.start() if date else len(text)
            for match in _TOKEN.finditer(text, position, stop):
                kind = match.lastgroup or "punct"
                surface = match.group()
                norm = _plain(surface)
                tokens.append(_Token(kind, surface, norm, lemma(norm) if kind == "word" else norm,
                                     match.start(), match.end()))
            if date:
                tokens.append(_Token("date", date.group(), date.group(), date.group(), date.start(), date.end()))
                position = date.end()
        return tokens

    # ---- e-mail ------------------------------------------------------------------------------------------

    def _dictated_emails(self, tokens: list[_Token], taken: list[bool]) -> list[tuple[int, int]]:
        rules = self._rules
        found: list[tuple[int, int]] = []
        for at, token in enumerate(tokens):
            if taken[at] or token.kind != "word" or token.norm not in rules.at_words:
                continue
            last = self._email_domain_end(tokens, at)
            first = self._email_local_start(tokens, at)
            if last is not None and first is not None and not any(taken[first:last + 1]):
                found.append((first, last))
        return found

    def _email_domain_end(self, tokens: list[_Token], at: int) -> int | None:
        """The last token of the domain after the «собака», or None when what follows is no domain."""
        rules = self._rules
        index, last, known = at + 1, None, False
        expect_part = True
        while index < len(tokens):
            token = tokens[index]
            glued = index > 0 and tokens[index - 1].end == token.start
            if token.kind in ("word", "num") and (expect_part or glued or token.norm in rules.tld_words):
                known = known or token.norm in rules.domain_words or token.norm in rules.tld_words
                last, expect_part = index, False
                if token.norm in rules.tld_words and last > at + 1:
                    break
            elif self._in(token, rules.dot_words) or self._in(token, rules.joiner_words) or token.text in ".-_":
                if expect_part:
                    break
                expect_part = True
            else:
                break
            index += 1
        return last if last is not None and known else None

    def _email_local_start(self, tokens: list[_Token], at: int) -> int | None:
        """The first token of the address before the «собака», or None when there is none."""
        rules = self._rules
        index = at - 1
        if index < 0 or tokens[index].kind not in ("word", "num") or self._in(tokens[index], rules.email_stop_words):
            return None
        first = index
        numbers_only = self._is_number_token(tokens[index])
        while first > 0:
            previous, current = tokens[first - 1], tokens[first]
            glued = previous.end == current.start and previous.kind != "punct"
            joiner = self._in(previous, rules.dot_words) or self._in(previous, rules.joiner_words) or (
                previous.text in "._-")
            after_joiner = self._in(current, rules.dot_words) or self._in(current, rules.joiner_words)
            if self._in(previous, rules.email_stop_words) and not glued:
                break
            if glued or joiner or (after_joiner and previous.kind in ("word", "num")):
                first -= 1
            elif numbers_only and previous.kind in ("word", "num"):
                first -= 1
                numbers_only = self._is_number_token(previous)
            else:
                break
        while first < at and (self._in(tokens[first], rules.dot_words) or self._in(tokens[first], rules.joiner_words)):
            first += 1
        return first if first < at else None

    def _in(self, token: _Token, words: frozenset[str]) -> bool:
        return token.norm in words or token.lemma in words

    def _is_number_token(self, token: _Token) -> bool:
        return token.kind == "num" or (token.kind == "word" and token.lemma in self._rules.number_words)

    # ---- dates of birth ------------------------------------------------------------------------------------

    def _is_date_part(self, token: _Token) -> bool:
        rules = self._rules
        if token.kind == "date" or (token.kind == "num" and len(token.text) <= 4):
            return True
        if token.kind != "word":
            return False
        lemma = token.lemma
        return (lemma in rules.number_words or lemma in rules.ordinals or lemma in rules.months
                or lemma in rules.thousand or lemma in rules.year_words or token.norm in rules.year_words)

    def _date_run(self, tokens: list[_Token], start: int, step: int) -> tuple[int, int] | None:
        """The date parts that follow ``start`` going forward (step 1) or backward (step -1)."""
        index = start
        while 0 <= index < len(tokens) and self._is_date_part(tokens[index]):
            index += step
        end = index - step
        if end * step < start * step:
            return None
        first, last = sorted((start, end))
        parts = tokens[first:last + 1]
        return (first, last) if self._looks_like_date(parts) else None

    def _looks_like_date(self, parts: list[_Token]) -> bool:
        """A month, a numeric date, a year word after a number, an ordinal or a four-digit year is there."""
        rules = self._rules
        for index, token in enumerate(parts):
            if token.kind == "date" or (token.kind == "num" and len(token.text) == 4 and token.text[:2] in _CENTURIES):
                return True
            if token.kind == "word" and (token.lemma in rules.months or token.lemma in rules.ordinals):
                return True
            if index > 0 and self._in(token, rules.year_words):
                return True
        return False

    def _birth_dates(self, tokens: list[_Token], taken: list[bool]) -> list[tuple[int, int]]:
        rules = self._rules
        found: list[tuple[int, int]] = []
        words = [i for i, t in enumerate(tokens) if t.kind != "punct" or t.text in _SENTENCE_END]
        for position, index in enumerate(words):
            if tokens[index].kind != "word" or tokens[index].lemma not in rules.birth_cues:
                continue
            # the date after the cue, maybe past a word or two («родилась в …»)
            for skip in range(_BIRTH_SKIP + 1):
                if position + 1 + skip >= len(words):
                    break
                start = words[position + 1 + skip]
                between = tokens[words[position + skip] + 1:start]
                if tokens[start].text in _SENTENCE_END or any(t.text not in _DATE_LEAD_PUNCT for t in between):
                    break
                run = self._date_run(tokens, start, 1)
                if run:
                    found.append(run)
                    break
            # the date before the cue («1985 года рождения»)
            if position > 0:
                run = self._date_run(tokens, words[position - 1], -1)
                if run:
                    found.append(run)
        return [run for run in _disjoint(found) if not any(taken[run[0]:run[1] + 1])]

    # ---- numbers ---------------------------------------------------------------------------------------------

    def _number_runs(self, tokens: list[_Token], taken: list[bool]) -> list[_NumberRun]:
        rules = self._rules
        runs: list[_NumberRun] = []
        index = 0
        while index < len(tokens):
            token = tokens[index]
            starts = token.kind == "num" or (token.kind == "word" and (
                token.lemma in rules.number_words or token.lemma in rules.thousand or token.norm in rules.plus))
            if taken[index] or not starts:
                index += 1
                continue
            members = [index]
            plus = token.norm in rules.plus or (index > 0 and tokens[index - 1].text == "+")
            cursor = index + 1
            while cursor < len(tokens):
                candidate = tokens[cursor]
                if candidate.kind == "punct" and candidate.text in _RUN_SEPARATORS:
                    cursor += 1
                    continue
                if taken[cursor] or not (candidate.kind == "num" or (candidate.kind == "word" and (
                        candidate.lemma in rules.number_words or candidate.lemma in rules.thousand))):
                    break
                members.append(cursor)
                cursor += 1
            digits, layout = self._read_digits([tokens[i] for i in members])
            quantity = any(tokens[i].kind == "word" and tokens[i].lemma in rules.thousand for i in members)
            if digits:
                runs.append(_NumberRun(members[0], members[-1], digits, layout, plus, quantity))
            index = members[-1] + 1
        return runs

    def _read_digits(self, tokens: list[_Token]) -> tuple[str, tuple[int, ...]]:
        """The digit string of a run of digit groups and number words, and the written groups' layout."""
        rules = self._rules
        parts: list[str] = []
        layout: list[int] = []
        spoken = False
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if token.kind == "num":
                parts.append(token.text)
                layout.append(len(token.text))
                index += 1
                continue
            if token.norm in rules.plus:
                index += 1
                continue
            spoken = True
            value, index = self._read_group(tokens, index)
            parts.append(str(value) if value is not None else "")
        return "".join(parts), () if spoken else tuple(layout)

    def _read_group(self, tokens: list[_Token], index: int) -> tuple[int | None, int]:
        """One spoken number: «сто двадцать три», «сорок пять», «ноль», «четыре тысячи двести»."""
        value, index = self._read_below_thousand(tokens, index)
        if index < len(tokens) and tokens[index].kind == "word" and tokens[index].lemma in self._rules.thousand:
            thousands = 1 if value is None else value
            rest, index = self._read_below_thousand(tokens, index + 1)
            return thousands * 1000 + (rest or 0), index
        return value, index

    def _read_below_thousand(self, tokens: list[_Token], index: int) -> tuple[int | None, int]:
        numbers = self._rules.number_words

        def value_at(position: int) -> int | None:
            if position < len(tokens) and tokens[position].kind == "word":
                return numbers.get(tokens[position].lemma)
            return None

        first = value_at(index)
        if first is None:
            return None, index
        total, index = first, index + 1
        if first >= 100 and first % 100 == 0:
            following = value_at(index)
            if following is not None and 0 < following < 100:
                total, index = total + following, index + 1
                first = following
        if 20 <= first < 100 and first % 10 == 0:
            following = value_at(index)
            if following is not None and 0 < following < 10:
                total, index = total + following, index + 1
        return total, index

    def _cues(self, tokens: list[_Token], before: int) -> list[str]:
        """Kinds named by cue words in the few words before token ``before``, nearest first."""
        kinds: list[str] = []
        seen = 0
        index = before - 1
        while index >= 0 and seen < CUE_WINDOW:
            token = tokens[index]
            if token.kind == "word":
                seen += 1
                kind = self._rules.number_cues.get(token.lemma) or self._rules.number_cues.get(token.norm)
                if kind and kind not in kinds:
                    kinds.append(kind)
            index -= 1
        return kinds

    def _classify(self, tokens: list[_Token], run: _NumberRun, runs: list[_NumberRun]) -> str | None:
        """The kind of a digit run, or None to keep it."""
        digits, length = run.digits, len(run.digits)
        if run.quantity and length < MIN_NUMBER_DIGITS:
            return None
        cues = self._cues(tokens, run.first)
        everywhere = self._cues(tokens, len(tokens)) if length in (4, 6) else []
        for cue in cues:
            if cue == "inn" and length in (10, 12):
                return "inn"
            if cue == "snils" and length == 11:
                return "snils"
            if cue == "card" and 13 <= length <= 19:
                return "card"
            if cue == "passport" and length in (4, 6, 10):
                return "passport"
            if cue == "phone" and MIN_NUMBER_DIGITS <= length <= 12:
                return "phone"
        if "passport" in everywhere and length in (4, 6) and self._passport_pair(run, runs):
            return "passport"
        if run.layout == _SNILS_LAYOUT or (run.layout[-4:] == _SNILS_LAYOUT and length == 11):
            return "snils"
        if (length == 11 and digits[0] in "78") or (length == 12 and run.plus) or (length == 10 and digits[0] == "9"):
            return "phone"
        if 13 <= length <= 19 and "number" not in cues:
            return "card"
        if length >= MIN_NUMBER_DIGITS:
            return "number"
        return None

    @staticmethod
    def _passport_pair(run: _NumberRun, runs: list[_NumberRun]) -> bool:
        """True when a 4-digit series and a 6-digit number sit in the same utterance."""
        lengths = {len(other.digits) for other in runs if other is not run}
        return (len(run.digits) == 4 and 6 in lengths) or (len(run.digits) == 6 and 4 in lengths)

    # ---- names ----------------------------------------------------------------------------------------------

    def _names(self, tokens: list[_Token], taken: list[bool]) -> list[tuple[int, int]]:
        rules = self._rules
        shares: dict[int, float] = {}
        for index, token in enumerate(tokens):
            if token.kind == "word" and not taken[index] and len(token.text) > 1 and not _is_acronym(token.text):
                share = sum(self._lemmatizer.name_tags(token.norm).values())
                if share > 0:
                    shares[index] = share

        def previous_word(index: int) -> int | None:
            index -= 1
            while index >= 0 and tokens[index].kind == "punct" and tokens[index].text not in _SENTENCE_END:
                index -= 1
            return index if index >= 0 and tokens[index].kind != "punct" else None

        def adjacent(index: int, step: int) -> int | None:
            """The name-like word right beside token ``index`` (only spaces between), if any."""
            other = index + step
            return other if other in shares else None

        accepted: set[int] = set()
        for index, share in shares.items():
            token = tokens[index]
            before = previous_word(index)
            before_token = tokens[before] if before is not None else None
            if before_token is not None and (
                    before_token.lemma in rules.name_blockers or before_token.norm in rules.name_blocker_forms):
                continue
            sentence_start = before_token is None or before_token.text in _SENTENCE_END
            cued = any(tokens[i].lemma in rules.name_cues for i in self._words_before(tokens, index, 2))
            capital_inside = token.text[0].isupper() and not sentence_start
            neighbours = [shares[other] for other in (adjacent(index, -1), adjacent(index, 1)) if other is not None]
            # beside a sure name part («Любовь Ивановна») any name reading will do; beside another unsure one,
            # both must be read as names often enough
            beside_name = any(
                other >= STRONG_NAME_SHARE or min(other, share) >= WEAK_NAME_SHARE for other in neighbours)
            if share >= STRONG_NAME_SHARE or cued or beside_name or (capital_inside and share >= WEAK_NAME_SHARE):
                accepted.add(index)
        # a run of name words («Петров Иван Иванович») is one span
        runs: list[tuple[int, int]] = []
        for index in sorted(accepted):
            if runs and runs[-1][1] + 1 == index:
                runs[-1] = (runs[-1][0], index)
            else:
                runs.append((index, index))
        return runs

    @staticmethod
    def _words_before(tokens: list[_Token], index: int, count: int) -> list[int]:
        found: list[int] = []
        index -= 1
        while index >= 0 and len(found) < count:
            if tokens[index].kind == "word":
                found.append(index)
            elif tokens[index].text in _SENTENCE_END:
                break
            index -= 1
        return found


def _is_acronym(text: str) -> bool:
    return len(text) > 1 and text.isupper()


def _valid_date(match: re.Match[str]) -> bool:
    day, month = int(match.group(1)), int(match.group(3))
    return 1 <= day <= 31 and 1 <= month <= 12


def _disjoint(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Token ranges merged where they overlap."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(runs):
        if merged and first <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
        else:
            merged.append((first, last))
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
    text_chars = [(i, _plain(c)) for i, c in enumerate(text) if c.isalnum()]
    word_chars = [(w, _plain(c)) for w, word in enumerate(words) for c in word.text if c.isalnum()]
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
