"""Finds personal data in Russian utterances and replaces it with typed placeholders ([ТЕЛЕФОН], [ИМЯ]…).

Kinds: ``phone``, ``card``, ``email``, ``passport``, ``inn``, ``snils``, ``birth_date``, ``name`` and
``number`` (any other run of 7 digits or more: account, contract and order numbers). Numbers are read the
same whether written in digits or spelled in words the way Whisper writes them and people say them
(«8 916 123-45-67», «восемь девятьсот шестнадцать сто двадцать три…», «девять один шесть…», mixed): a run of
digit groups and number words becomes one digit string, classified by its length, its first digit, its
layout and the cue words before it («карта», «ИНН», «серия»…) or, failing those, after it («…, это ИНН»).
One dictated number runs on past fillers and pauses («эээ», «ну», «…», «и дальше») and past a
self-correction («нет», «ой», «то есть»): the whole dictation is removed, false start included, and the
digits after the last correction tell its kind. Whisper's digit-by-digit output («2 .2 .0», «1 ,2 ,3») is
one run too, and a run said digit by digit is a code from 6 digits. A number followed by an amount, unit or
year word («1 500 000 рублей», «15 минут», «в 2015 году») is a quantity, never personal data; a run joined
only by fillers that nothing but its length makes a number is judged part by part («3 500, ну, 4 200»).
Dates count as dates of birth only next to a birth cue, before or after the date («родилась», «дата
рождения», «1 января 1970, дата рождения», «Дату рождения? Седьмое ноября…», «85-го года рождения»), in
a genitive year after a person («я восемьдесят пятого года»), or as a year said apart after one («…, год
1992»). E-mails are found typed or dictated («иван точка петров собака мейл точка ру»). Names come from
pymorphy3's Name/Surn/Patr tags (through :mod:`qa.lemmatizer`): a word read as a name almost always
(«анна», «иванович») is one in any case; a word that is often a common noun («вера», «роман», «лев») only
when capitalised mid-sentence, after a cue («зовут», «на имя», «фамилия», «это») or next to another name
part. Whatever its tags, a capitalised word right after «зовут», «фамилия», «на имя», «говорила» is a name
(«Фамилия Лисица», a misspelt «Петровую»), and so is a capitalised word beside an accepted name («Ким Ен
Су», «Белку Марину», «Соловей Игорь Викторович»). None after a street, work or company word («улица
Ленина», «роман Толстого»), nor a place in the locative after «в»/«на» («в марине», «на Невском»).
Addresses are not redacted.

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
_GAP_PUNCT = frozenset(",-–—:")  # may stand between the fillers inside one dictated number
MAX_GAP_WORDS = 3  # filler and correction words one dictated number may hold between two of its parts
DICTATED_MIN_DIGITS = 6  # a run said digit by digit is a code from this length («1, 2, 3, 9, 8, 7»)
_PASSPORT_LAYOUTS = ((4, 6), (2, 2, 6))  # «4510 123456», «45 10 123456»
_LOCAL_PHONE_LAYOUT = (3, 2, 2)  # «123-45-67»
_SPOKEN_MOBILE_STARTS = ("89", "79")
_QUESTION = "?"
_Phrases = dict[str, tuple[tuple[str, ...], ...]]  # first word → the phrases it starts, as word tuples
_SENTENCE_END = frozenset(".!?…")
_SNILS_LAYOUT = (3, 3, 3, 2)
_CENTURIES = ("19", "20")  # the first digits of a year of birth written in digits
_DATE_LEAD_PUNCT = frozenset(":—-")  # may stand between a birth cue and the date after it
_DATE_TAIL_PUNCT = frozenset(":—-,")  # may stand between a date and the birth cue after it («1 января 1970, дата…»)


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
    number_fillers: _Phrases
    number_corrections: _Phrases
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
    weak_name_cues: frozenset[str]
    name_cue_stop_words: frozenset[str]
    address_words: frozenset[str]
    locative_prepositions: frozenset[str]
    locative_endings: tuple[str, ...]
    name_blockers: frozenset[str]
    name_blocker_forms: frozenset[str]


def _plain(word: str) -> str:
    return word.lower().replace("ё", "е")


def _words(items: Sequence[str]) -> frozenset[str]:
    return frozenset(_plain(item) for item in items)


def _phrases(items: Sequence[str]) -> _Phrases:
    """Phrases by their first word, longest first (so «а дальше» is tried before a shorter «а …»)."""
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for phrase in sorted({tuple(_plain(item).split()) for item in items}, key=len, reverse=True):
        by_first.setdefault(phrase[0], []).append(phrase)
    return {first: tuple(phrases) for first, phrases in by_first.items()}


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
        million=_words(data["million"]),
        plus=_words(data["plus"]),
        ordinals={_plain(k): int(v) for k, v in data["ordinals"].items()},
        ordinal_suffixes=_words(data["ordinal_suffixes"]),
        months=_words(data["months"]),
        year_words=_words(data["year_words"]),
        birth_cues=_words(data["birth_cues"]),
        birth_cue_stems=tuple(_words(data["birth_cue_stems"])),
        birth_cue_heads=_words(data["birth_cue_heads"]),
        birth_year_subjects=_words(data["birth_year_subjects"]),
        birth_year_forms=_words(data["birth_year_forms"]),
        date_prepositions=_words(data["date_prepositions"]),
        number_cues={_plain(cue): kind for kind, cues in data["number_cues"].items() for cue in cues},
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
        weak_name_cues=_words(data["weak_name_cues"]),
        name_cue_stop_words=_words(data["name_cue_stop_words"]),
        address_words=_words(data["address_words"]),
        locative_prepositions=_words(data["locative_prepositions"]),
        locative_endings=tuple(_words(data["locative_endings"])),
        name_blockers=_words(data["name_blockers"]),
        name_blocker_forms=_words(data["name_blocker_forms"]),
    )


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # num | word | punct | date (a numeric date «12.03.1985») | ordinal (a digit ordinal «85-го»)
    text: str
    norm: str
    lemma: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _NumberRun:
    first: int  # token indices, inclusive
    last: int
    digits: str  # what was said, from the last self-correction on
    layout: tuple[int, ...]  # digit counts of the written digit groups, () when words were spoken
    plus: bool
    quantity: bool  # holds «тысяча» or «миллион»: an amount or a year unless it is long
    millions: bool  # holds «миллион»: an amount unless a cue says otherwise
    dictated: bool  # said digit by digit («1, 2, 3, 9, 8, 7»): a code even when short
    pieces: tuple[_NumberRun, ...] = ()  # its parts read apart, when only fillers joined them


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
            for piece, kind in self._classified(tokens, run, runs):
                claim(kind, piece.first, piece.last)
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
        return self._merge_digit_ordinals(text, tokens)

    def _merge_digit_ordinals(self, text: str, tokens: list[_Token]) -> list[_Token]:
        """«85-го» as one ``ordinal`` token: a year or day in digits with a case ending is no digit run."""
        if not any(token.text == "-" for token in tokens):
            return tokens
        merged: list[_Token] = []
        index = 0
        while index < len(tokens):
            number, *rest = tokens[index:index + 3]
            if (len(rest) == 2 and number.kind == "num" and rest[0].text == "-" and rest[1].kind == "word"
                    and number.end == rest[0].start and rest[0].end == rest[1].start
                    and rest[1].norm in self._rules.ordinal_suffixes):
                merged.append(_Token("ordinal", text[number.start:rest[1].end], number.text, number.text,
                                     number.start, rest[1].end))
                index += 3
            else:
                merged.append(number)
                index += 1
        return merged

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
        if token.kind in ("date", "ordinal") or (token.kind == "num" and len(token.text) <= 4):
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
            if token.kind in ("date", "ordinal") or (
                    token.kind == "num" and len(token.text) == 4 and token.text[:2] in _CENTURIES):
                return True
            if token.kind == "word" and (token.lemma in rules.months or token.lemma in rules.ordinals):
                return True
            if index > 0 and self._in(token, rules.year_words):
                return True
        return False

    def _is_birth_cue(self, token: _Token) -> bool:
        """«родилась», «рождения», and a cue Whisper glued or misspelt («Датрождение»)."""
        rules = self._rules
        return token.kind == "word" and (
            token.lemma in rules.birth_cues or any(stem in token.norm for stem in rules.birth_cue_stems))

    def _birth_dates(self, tokens: list[_Token], taken: list[bool]) -> list[tuple[int, int]]:
        rules = self._rules
        found: list[tuple[int, int]] = []
        words = [i for i, t in enumerate(tokens) if t.kind != "punct" or t.text in _SENTENCE_END]
        for position, index in enumerate(words):
            if self._is_birth_cue(tokens[index]):
                after = self._date_after_cue(tokens, words, position)
                if after:
                    found.append(after)
                    found.extend(self._year_apart(tokens, after[1]))
                # the date before the cue («1985 года рождения»); past «дата» only when the cue closes the
                # sentence («1 января 1970, дата рождения.»), since a date before «дата рождения не …» is another
                closes = position + 1 == len(words) or tokens[words[position + 1]].text in _SENTENCE_END
                before = self._date_before_cue(tokens, words, position, past_head=after is None and closes)
                if before:
                    found.append(before)
            elif tokens[index].norm in rules.birth_year_subjects:
                year = self._genitive_year(tokens, index)
                if year:
                    found.append(year)
        return [run for run in _disjoint(found) if not any(taken[run[0]:run[1] + 1])]

    def _date_after_cue(self, tokens: list[_Token], words: list[int], position: int) -> tuple[int, int] | None:
        """The date after the cue at ``words[position]``, maybe past a word or two («родилась в …») or past the
        cue asked back as a question («Дату рождения? Седьмое ноября …»)."""
        for skip in range(_BIRTH_SKIP + 1):
            if position + 1 + skip >= len(words):
                break
            start = words[position + 1 + skip]
            between = tokens[words[position + skip] + 1:start]
            if any(t.text not in _DATE_LEAD_PUNCT for t in between):
                break
            if tokens[start].text in _SENTENCE_END:
                if tokens[start].text == _QUESTION and skip == 0:
                    continue
                break
            run = self._date_run(tokens, start, 1)
            if run:
                return self._with_preposition(tokens, run, words[position])
        return None

    def _with_preposition(self, tokens: list[_Token], run: tuple[int, int], cue: int) -> tuple[int, int]:
        """The date with the preposition before it when one stands between it and the cue («в 1983 году»)."""
        first, last = run
        if first - 1 > cue and tokens[first - 1].norm in self._rules.date_prepositions:
            return first - 1, last
        return run

    def _year_apart(self, tokens: list[_Token], last: int) -> list[tuple[int, int]]:
        """A year said apart after a birth date: «третьего сентября, год 1992»."""
        index = last + 1
        while index < len(tokens) and tokens[index].text in _DATE_TAIL_PUNCT:
            index += 1
        if index < len(tokens) and tokens[index].kind == "word" and self._in(tokens[index], self._rules.year_words):
            run = self._date_run(tokens, index, 1)
            if run:
                return [run]
        return []

    def _date_before_cue(self, tokens: list[_Token], words: list[int], position: int,
                         past_head: bool) -> tuple[int, int] | None:
        """The date that ends right before the cue, or (``past_head``) before the word heading it («…, дата»)."""
        if position == 0:
            return None
        index = words[position - 1]
        if past_head and tokens[index].kind == "word" and tokens[index].lemma in self._rules.birth_cue_heads:
            index -= 1
            while index >= 0 and tokens[index].text in _DATE_TAIL_PUNCT:
                index -= 1
            if index < 0:
                return None
        return self._date_run(tokens, index, -1)

    def _genitive_year(self, tokens: list[_Token], subject: int) -> tuple[int, int] | None:
        """«я восемьдесят пятого года»: a year in the genitive right after a person is the year they were born."""
        if subject + 1 >= len(tokens):
            return None
        run = self._date_run(tokens, subject + 1, 1)
        if run and tokens[run[1]].norm in self._rules.birth_year_forms:
            return run
        return None

    # ---- numbers ---------------------------------------------------------------------------------------------

    def _is_number_word(self, token: _Token) -> bool:
        rules = self._rules
        return token.kind == "word" and (
            token.lemma in rules.number_words or token.lemma in rules.thousand or token.lemma in rules.million)

    def _starts_number(self, token: _Token) -> bool:
        return token.kind == "num" or self._is_number_word(token) or (
            token.kind == "word" and token.norm in self._rules.plus)

    def _number_runs(self, tokens: list[_Token], taken: list[bool]) -> list[_NumberRun]:
        runs: list[_NumberRun] = []
        index = 0
        while index < len(tokens):
            if taken[index] or not self._starts_number(tokens[index]):
                index += 1
                continue
            segments, restart = self._dictation(tokens, taken, index)
            index = segments[-1][-1] + 1
            segments = self._without_amount_tail(tokens, segments)
            if segments:
                run = self._make_run(tokens, segments, min(restart, len(segments) - 1))
                if run is not None:
                    runs.append(run)
        return runs

    def _dictation(self, tokens: list[_Token], taken: list[bool], start: int) -> tuple[list[list[int]], int]:
        """The number tokens of one dictated number from ``start``, in segments split by fillers or corrections,
        and the segment the number restarts at after its last self-correction (0 when none)."""
        segments: list[list[int]] = [[start]]
        restart = 0
        cursor = start + 1
        while cursor < len(tokens):
            if self._is_run_separator(tokens, cursor):
                cursor += 1
                continue
            if not taken[cursor] and (tokens[cursor].kind == "num" or self._is_number_word(tokens[cursor])):
                segments[-1].append(cursor)
                cursor += 1
                continue
            gap = self._gap(tokens, taken, cursor)
            if gap is None:
                break
            cursor, corrected = gap
            segments.append([])
            if corrected:
                restart = len(segments) - 1
        return segments, restart

    def _is_run_separator(self, tokens: list[_Token], index: int) -> bool:
        """Punctuation inside a written number: «-», «(», «,»… and Whisper's dot before a digit («2 .2 .0»)."""
        token = tokens[index]
        if token.kind != "punct":
            return False
        if token.text in _RUN_SEPARATORS:
            return True
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        return (token.text == "." and index > 0 and following is not None and following.kind == "num"
                and following.start == token.end and tokens[index - 1].end < token.start)

    def _is_hesitation(self, tokens: list[_Token], index: int) -> bool:
        """An ellipsis («…» or «...»): the speaker pauses, the number may go on."""
        token = tokens[index]
        if token.text == "…":
            return True
        if token.text != ".":
            return False
        glued_before = index > 0 and tokens[index - 1].text == "." and tokens[index - 1].end == token.start
        glued_after = index + 1 < len(tokens) and tokens[index + 1].text == "." and tokens[index + 1].start == token.end
        return glued_before or glued_after

    def _gap(self, tokens: list[_Token], taken: list[bool], cursor: int) -> tuple[int, bool] | None:
        """Where a dictated number goes on past fillers, pauses or a self-correction at ``cursor`` («эээ», «ну»,
        «и дальше», «нет», «то есть»), and whether a correction was among them; None when the number ends here."""
        rules = self._rules
        words, corrected = 0, False
        while cursor < len(tokens) and words <= MAX_GAP_WORDS:
            token = tokens[cursor]
            if token.kind == "punct":
                if token.text not in _GAP_PUNCT and not self._is_hesitation(tokens, cursor):
                    return None
                cursor += 1
                continue
            if token.kind == "num" or self._is_number_word(token):
                return None if taken[cursor] else (cursor, corrected)
            length = _phrase_at(tokens, cursor, rules.number_corrections)
            corrected = corrected or length > 0
            length = length or _phrase_at(tokens, cursor, rules.number_fillers)
            if not length:
                return None
            cursor += length
            words += length
        return None

    def _without_amount_tail(self, tokens: list[_Token], segments: list[list[int]]) -> list[list[int]]:
        """The segments less a last one that an amount, unit or year word follows: «1 500 000 рублей», «в 2015
        году» and «…, ну, 15 минут» are quantities, not identifiers."""
        rules = self._rules
        after = segments[-1][-1] + 1
        if after < len(tokens) and (tokens[after].norm in rules.amount_words or (
                tokens[after].kind == "word" and tokens[after].lemma in rules.amount_words)):
            return segments[:-1]
        return segments

    def _make_run(self, tokens: list[_Token], segments: list[list[int]], restart: int) -> _NumberRun | None:
        rules = self._rules
        members = [index for segment in segments for index in segment]
        # after a self-correction only the restarted number tells the kind; the span still covers all of it
        digits, layout, dictated = self._read_digits([tokens[i] for segment in segments[restart:] for i in segment])
        if not digits:
            return None
        first = members[0]
        words = [tokens[i] for i in members if tokens[i].kind == "word"]
        # parts read apart, to fall back on when fillers alone joined them (a correction says it is one number)
        joined_by_fillers = len(segments) > 1 and restart == 0
        pieces = [self._make_run(tokens, [segment], 0) for segment in segments] if joined_by_fillers else []
        return _NumberRun(
            first=first,
            last=members[-1],
            digits=digits,
            layout=layout,
            plus=tokens[first].norm in rules.plus or (first > 0 and tokens[first - 1].text == "+"),
            quantity=any(t.lemma in rules.thousand or t.lemma in rules.million for t in words),
            millions=any(t.lemma in rules.million for t in words),
            dictated=dictated,
            pieces=tuple(piece for piece in pieces if piece is not None),
        )

    def _read_digits(self, tokens: list[_Token]) -> tuple[str, tuple[int, ...], bool]:
        """The digit string of a run of digit groups and number words, the written groups' layout, and whether
        it was said digit by digit («1, 2, 3, 9», «один два три»)."""
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
        dictated = len(parts) > 1 and all(len(part) == 1 for part in parts)
        return "".join(parts), () if spoken else tuple(layout), dictated

    def _read_group(self, tokens: list[_Token], index: int) -> tuple[int | None, int]:
        """One spoken number: «сто двадцать три», «ноль», «четыре тысячи двести», «сорок пять миллионов сто…»."""
        rules = self._rules
        total, scaled = 0, False
        for scale_words, scale in ((rules.million, 1_000_000), (rules.thousand, 1000)):
            value, after = self._read_below_thousand(tokens, index)
            if after < len(tokens) and tokens[after].kind == "word" and tokens[after].lemma in scale_words:
                total += (1 if value is None else value) * scale
                index, scaled = after + 1, True
        rest, index = self._read_below_thousand(tokens, index)
        if not scaled:
            return rest, index
        return total + (rest or 0), index

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

    def _cue_kind(self, token: _Token) -> str | None:
        if token.kind != "word":
            return None
        return self._rules.number_cues.get(token.lemma) or self._rules.number_cues.get(token.norm)

    def _cues(self, tokens: list[_Token], before: int) -> list[str]:
        """Kinds named by cue words in the few words before token ``before``, nearest first."""
        kinds: list[str] = []
        seen = 0
        index = before - 1
        while index >= 0 and seen < CUE_WINDOW:
            token = tokens[index]
            if token.kind == "word":
                seen += 1
                kind = self._cue_kind(token)
                if kind and kind not in kinds:
                    kinds.append(kind)
            index -= 1
        return kinds

    def _cues_after(self, tokens: list[_Token], after: int) -> list[str]:
        """Kinds named by cue words after token ``after`` up to the sentence end or the next number, nearest first
        («503 212 345 678, это ИНН»)."""
        kinds: list[str] = []
        seen = 0
        for token in tokens[after + 1:]:
            if token.text in _SENTENCE_END or self._starts_number(token) or seen >= CUE_WINDOW:
                break
            if token.kind == "word":
                seen += 1
                kind = self._cue_kind(token)
                if kind and kind not in kinds:
                    kinds.append(kind)
        return kinds

    def _classified(self, tokens: list[_Token], run: _NumberRun, runs: list[_NumberRun]) -> list[
            tuple[_NumberRun, str]]:
        """The run with its kind, or, when it was joined over fillers and nothing but its length makes it a
        number («оплатил 3 500, ну, 4 200»), its parts each with their own kind."""
        kind = self._classify(tokens, run, runs)
        if kind == "number" and run.pieces and not self._cues(tokens, run.first) + self._cues_after(tokens, run.last):
            return [pair for piece in run.pieces for pair in self._classified(tokens, piece, runs)]
        return [(run, kind)] if kind is not None else []

    def _classify(self, tokens: list[_Token], run: _NumberRun, runs: list[_NumberRun]) -> str | None:
        """The kind of a digit run, or None to keep it."""
        length = len(run.digits)
        if run.quantity and length < MIN_NUMBER_DIGITS:
            return None
        cues = self._cues(tokens, run.first) or self._cues_after(tokens, run.last)
        if run.millions and not cues:
            return None  # «два миллиона» is an amount unless a cue says it is a number
        kind = _kind_by_cue(cues, length)
        if kind:
            return kind
        everywhere = self._cues(tokens, len(tokens)) if length in (4, 6) else []
        if "passport" in everywhere and length in (4, 6) and self._passport_pair(run, runs):
            return "passport"
        return _kind_by_shape(run, cues)

    @staticmethod
    def _passport_pair(run: _NumberRun, runs: list[_NumberRun]) -> bool:
        """True when a 4-digit series and a 6-digit number sit in the same utterance."""
        lengths = {len(other.digits) for other in runs if other is not run}
        return (len(run.digits) == 4 and 6 in lengths) or (len(run.digits) == 6 and 4 in lengths)

    # ---- names ----------------------------------------------------------------------------------------------

    def _names(self, tokens: list[_Token], taken: list[bool]) -> list[tuple[int, int]]:
        shares: dict[int, float] = {}
        for index, token in enumerate(tokens):
            if self._may_be_name(token, taken[index]):
                share = sum(self._lemmatizer.name_tags(token.norm).values())
                if share > 0:
                    shares[index] = share
        accepted = {index for index, share in shares.items() if self._reads_as_name(tokens, index, share, shares)}
        accepted |= self._cued_words(tokens, taken)
        accepted = self._grow_by_capitals(tokens, taken, accepted)
        # a run of name words («Петров Иван Иванович») is one span
        runs: list[tuple[int, int]] = []
        for index in sorted(accepted):
            if runs and runs[-1][1] + 1 == index:
                runs[-1] = (runs[-1][0], index)
            else:
                runs.append((index, index))
        return runs

    @staticmethod
    def _may_be_name(token: _Token, taken: bool) -> bool:
        return token.kind == "word" and not taken and len(token.text) > 1 and not _is_acronym(token.text)

    @staticmethod
    def _previous_word(tokens: list[_Token], index: int) -> int | None:
        """The word or number before token ``index`` past commas and dashes; None at a sentence's start."""
        index -= 1
        while index >= 0 and tokens[index].kind == "punct" and tokens[index].text not in _SENTENCE_END:
            index -= 1
        return index if index >= 0 and tokens[index].kind != "punct" else None

    def _opens_sentence(self, tokens: list[_Token], index: int) -> bool:
        return self._previous_word(tokens, index) is None

    def _blocked(self, tokens: list[_Token], index: int) -> bool:
        """After a street, work or company word («улица Ленина»), or a place in the locative after «в»/«на»
        («в марине», «на Невском»): not a person's name."""
        rules = self._rules
        before = self._previous_word(tokens, index)
        if before is None:
            return False
        previous = tokens[before]
        if previous.lemma in rules.name_blockers or previous.norm in rules.name_blocker_forms:
            return True
        return (before == index - 1 and previous.norm in rules.locative_prepositions
                and tokens[index].norm.endswith(rules.locative_endings))

    def _reads_as_name(self, tokens: list[_Token], index: int, share: float, shares: dict[int, float]) -> bool:
        """Whether a word with a name reading (``share`` of its parses) is a name here."""
        rules = self._rules
        if self._blocked(tokens, index):
            return False
        token = tokens[index]
        before = self._previous_word(tokens, index)
        cued = any(tokens[i].lemma in rules.name_cues for i in self._words_before(tokens, index, 2))
        capital_inside = token.text[0].isupper() and before is not None
        # «это Слава», «я Рашид»: after an introduction any name reading will do when it is capitalised
        introduced = capital_inside and tokens[before].lemma in rules.weak_name_cues
        neighbours = [shares[other] for other in (index - 1, index + 1) if other in shares]
        # beside a sure name part («Любовь Ивановна») any name reading will do; beside another unsure one,
        # both must be read as names often enough
        beside_name = any(
            other >= STRONG_NAME_SHARE or min(other, share) >= WEAK_NAME_SHARE for other in neighbours)
        return (share >= STRONG_NAME_SHARE or cued or beside_name or introduced
                or (capital_inside and share >= WEAK_NAME_SHARE))

    def _cued_words(self, tokens: list[_Token], taken: list[bool]) -> set[int]:
        """Words right after a name cue that are names whatever pymorphy reads: a capitalised one after «зовут»,
        «фамилия», «на имя», «разговаривала» («Фамилия Лисица», «разговаривала Мира», a misspelt «Петровую»), a
        lower-case one in its dictionary form after the surname cue itself («фамилия салавей»)."""
        rules = self._rules
        found: set[int] = set()
        for index, token in enumerate(tokens):
            if not self._may_be_name(token, taken[index]) or token.norm in rules.name_cue_stop_words:
                continue
            before = self._previous_word(tokens, index)
            if before is None or self._blocked(tokens, index):
                continue
            cue = tokens[before]
            if token.text[0].isupper() and cue.lemma in rules.capital_name_cues:
                found.add(index)
            # lower case only a word in its dictionary form: «фамилия кузнец», not «фамилия указана неверно»
            elif cue.norm in rules.surname_cues and token.lemma == token.norm:
                found.add(index)
        return found

    def _grow_by_capitals(self, tokens: list[_Token], taken: list[bool], accepted: set[int]) -> set[int]:
        """The names with the capitalised words right beside them (only spaces between): the rest of a foreign
        name («Ким Ен Су», «Ли Вэй») or a surname that is a common word («Белку Марину», «Колесник Богдан»)."""
        grown = set(accepted)
        frontier = sorted(accepted)
        while frontier:
            index = frontier.pop()
            for other in (index - 1, index + 1):
                if other not in grown and 0 <= other < len(tokens) and self._capital_beside_name(
                        tokens, taken, other, grown):
                    grown.add(other)
                    frontier.append(other)
        return grown

    def _capital_beside_name(self, tokens: list[_Token], taken: list[bool], index: int, names: set[int]) -> bool:
        token = tokens[index]
        if (not self._may_be_name(token, taken[index]) or not token.text[0].isupper()
                or token.norm in self._rules.name_cue_stop_words or self._blocked(tokens, index)):
            return False
        if not self._opens_sentence(tokens, index):
            return True
        # a capital opening the sentence is only a surname before a full name, all in the nominative (the lemma
        # is the word itself): «Соловей Игорь Викторович», not «Спросите Олега Игоревича» or «Здравствуйте …»
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        return (following is not None and index + 1 in names and index + 2 in names
                and token.norm not in self._rules.address_words
                and token.lemma == token.norm and following.lemma == following.norm)

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


def _kind_by_cue(cues: list[str], length: int) -> str | None:
    """The first cue whose kind fits the digit count («ИНН» and 10 or 12 digits), nearest cue first."""
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
    return None


def _looks_like_phone(run: _NumberRun) -> bool:
    digits, length = run.digits, len(run.digits)
    if (length == 11 and digits[0] in "78") or (length == 12 and run.plus) or (length == 10 and digits[0] == "9"):
        return True
    # a spoken mobile number read a digit too long («… сто ноль ноль ноль ноль один»)
    return not run.layout and length == 12 and digits[:2] in _SPOKEN_MOBILE_STARTS


def _kind_by_shape(run: _NumberRun, cues: list[str]) -> str | None:
    """The kind of a digit run without a fitting cue: by its written layout, length and first digits."""
    length, layout = len(run.digits), run.layout
    if layout in _PASSPORT_LAYOUTS:
        return "passport"
    if layout == _SNILS_LAYOUT or (layout[-4:] == _SNILS_LAYOUT and length == 11):
        return "snils"
    if layout == _LOCAL_PHONE_LAYOUT or _looks_like_phone(run):
        return "phone"
    long_enough = length >= MIN_NUMBER_DIGITS or (run.dictated and length >= DICTATED_MIN_DIGITS)
    if "number" in cues:
        return "number" if long_enough else None
    if length == 11:
        return "snils"  # eleven digits that are no phone: the only 11-digit document number
    if 13 <= length <= 19:
        return "card"
    return "number" if long_enough else None


def _phrase_at(tokens: list[_Token], index: int, phrases: _Phrases) -> int:
    """How many word tokens from ``index`` spell one of ``phrases`` (longest first); 0 when none does."""
    for phrase in phrases.get(tokens[index].norm, ()):
        window = tokens[index:index + len(phrase)]
        if len(window) == len(phrase) and all(
                t.kind == "word" and t.norm == word for t, word in zip(window, phrase, strict=True)):
            return len(phrase)
    return 0


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
