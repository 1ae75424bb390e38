"""Digit runs: the numbers of an utterance, written in digits, spoken in words or both, each read as one digit string.

A run of digit groups and number words becomes one digit string («8 916 123-45-67», «восемь девятьсот шестнадцать
сто двадцать три…», «девять один шесть…», mixed), with the layout of its written groups. One dictated number runs
on past fillers and pauses («эээ», «ну», «…», «и дальше») and past a self-correction («нет», «ой», «то есть»): the
run covers the whole dictation, false start included, and its digits are those after the last correction.
Whisper's digit-by-digit output («2 .2 .0», «1 ,2 ,3») is one run too. A run that an amount, unit or year word
follows («1 500 000 рублей», «15 минут», «в 2015 году») loses that last part: it is a quantity, not an identifier.
What kind of personal data a run is, :mod:`qa.text.redaction.numbers` decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa.text.redaction.lexicon import Phrases, Rules
from qa.text.redaction.tokens import Token

MAX_GAP_WORDS = 3  # filler and correction words one dictated number may hold between two of its parts
_RUN_SEPARATORS = frozenset("-()+,–—")
_GAP_PUNCT = frozenset(",-–—:")  # may stand between the fillers inside one dictated number
_HYPHENS = frozenset("-–—")


@dataclass(frozen=True, slots=True)
class NumberRun:
    """One number of the utterance: its tokens, its digits and what its wording tells of it."""

    first: int  # token indices, inclusive
    last: int
    digits: str  # what was said, from the last self-correction on
    layout: tuple[int, ...]  # digit counts of the written digit groups, () when words were spoken
    plus: bool
    quantity: bool  # holds «тысяча» or «миллион»: an amount or a year unless it is long
    millions: bool  # holds «миллион»: an amount unless a cue says otherwise
    dictated: bool  # said digit by digit («1, 2, 3, 9, 8, 7»): a code even when short
    pieces: tuple[NumberRun, ...] = ()  # its parts read apart, when only fillers joined them
    hyphenated: bool = False  # written digit groups joined by a hyphen («50 -7231», «40-17-62»): a phone's layout


def is_number_word(token: Token, rules: Rules) -> bool:
    """A cardinal, a digit noun, «тысяча» or «миллион» in any form."""
    return token.kind == "word" and (
        token.lemma in rules.number_words or token.lemma in rules.thousand or token.lemma in rules.million)


def starts_number(token: Token, rules: Rules) -> bool:
    """A digit group, a number word or «плюс»: a token a number may start with."""
    return token.kind == "num" or is_number_word(token, rules) or (token.kind == "word" and token.norm in rules.plus)


class NumberRuns:
    """Finds the digit runs of an utterance and reads their digits."""

    def __init__(self, rules: Rules) -> None:
        self._rules = rules

    def find(self, tokens: list[Token], taken: list[bool]) -> list[NumberRun]:
        """The digit runs among the tokens not ``taken``, in order."""
        runs: list[NumberRun] = []
        index = 0
        while index < len(tokens):
            if taken[index] or not starts_number(tokens[index], self._rules):
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

    def _dictation(self, tokens: list[Token], taken: list[bool], start: int) -> tuple[list[list[int]], int]:
        """The number tokens of one dictated number from ``start``, in segments split by fillers or corrections,
        and the segment the number restarts at after its last self-correction (0 when none)."""
        segments: list[list[int]] = [[start]]
        restart = 0
        cursor = start + 1
        while cursor < len(tokens):
            if self._is_run_separator(tokens, cursor):
                cursor += 1
                continue
            if not taken[cursor] and (tokens[cursor].kind == "num" or is_number_word(tokens[cursor], self._rules)):
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

    @staticmethod
    def _is_run_separator(tokens: list[Token], index: int) -> bool:
        """Punctuation inside a written number: «-», «(», «,»… and Whisper's dot before a digit («2 .2 .0»)."""
        token = tokens[index]
        if token.kind != "punct":
            return False
        if token.text in _RUN_SEPARATORS:
            return True
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        return (token.text == "." and index > 0 and following is not None and following.kind == "num"
                and following.start == token.end and tokens[index - 1].end < token.start)

    @staticmethod
    def _is_hesitation(tokens: list[Token], index: int) -> bool:
        """An ellipsis («…» or «...»): the speaker pauses, the number may go on."""
        token = tokens[index]
        if token.text == "…":
            return True
        if token.text != ".":
            return False
        glued_before = index > 0 and tokens[index - 1].text == "." and tokens[index - 1].end == token.start
        glued_after = index + 1 < len(tokens) and tokens[index + 1].text == "." and tokens[index + 1].start == token.end
        return glued_before or glued_after

    def _gap(self, tokens: list[Token], taken: list[bool], cursor: int) -> tuple[int, bool] | None:
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
            if token.kind == "num" or is_number_word(token, rules):
                return None if taken[cursor] else (cursor, corrected)
            length = _phrase_at(tokens, cursor, rules.number_corrections)
            corrected = corrected or length > 0
            length = length or _phrase_at(tokens, cursor, rules.number_fillers)
            if not length:
                return None
            cursor += length
            words += length
        return None

    def _without_amount_tail(self, tokens: list[Token], segments: list[list[int]]) -> list[list[int]]:
        """The segments less a last one that an amount, unit or year word follows: «1 500 000 рублей», «в 2015
        году» and «…, ну, 15 минут» are quantities, not identifiers."""
        rules = self._rules
        after = segments[-1][-1] + 1
        if after < len(tokens) and (tokens[after].norm in rules.amount_words or (
                tokens[after].kind == "word" and tokens[after].lemma in rules.amount_words)):
            return segments[:-1]
        return segments

    def _make_run(self, tokens: list[Token], segments: list[list[int]], restart: int) -> NumberRun | None:
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
        return NumberRun(
            first=first,
            last=members[-1],
            digits=digits,
            layout=layout,
            plus=tokens[first].norm in rules.plus or (first > 0 and tokens[first - 1].text == "+"),
            quantity=any(t.lemma in rules.thousand or t.lemma in rules.million for t in words),
            millions=any(t.lemma in rules.million for t in words),
            dictated=dictated,
            pieces=tuple(piece for piece in pieces if piece is not None),
            hyphenated=any(tokens[i].text in _HYPHENS and tokens[i - 1].kind == "num" and tokens[i + 1].kind == "num"
                           for i in range(first + 1, members[-1])),
        )

    def _read_digits(self, tokens: list[Token]) -> tuple[str, tuple[int, ...], bool]:
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

    def _read_group(self, tokens: list[Token], index: int) -> tuple[int | None, int]:
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

    def _read_below_thousand(self, tokens: list[Token], index: int) -> tuple[int | None, int]:
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


def _phrase_at(tokens: list[Token], index: int, phrases: Phrases) -> int:
    """How many word tokens from ``index`` spell one of ``phrases`` (longest first); 0 when none does."""
    for phrase in phrases.get(tokens[index].norm, ()):
        window = tokens[index:index + len(phrase)]
        if len(window) == len(phrase) and all(
                t.kind == "word" and t.norm == word for t, word in zip(window, phrase, strict=True)):
            return len(phrase)
    return 0
