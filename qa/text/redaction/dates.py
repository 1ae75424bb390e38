"""Dates of birth: a date, in digits or in words, counts only where it is plainly someone's date of birth.

That is next to a birth cue, before or after the date («родилась», «дата рождения», «1 января 1970, дата рождения»,
«Дату рождения? Седьмое ноября…», «85-го года рождения»); in a genitive year right after a person («я восемьдесят
пятого года»); or as a year said apart after such a date («…, год 1992»). Any other date is kept. The span is the
date itself (day, month, year, and «года» after the year), with a preposition between it and the cue («в 1983 году»).
"""

from __future__ import annotations

from qa.text.redaction.lexicon import Rules
from qa.text.redaction.tokens import SENTENCE_END, Token, TokenRange, in_words

_BIRTH_SKIP = 2  # words between a birth cue and the date after it («родилась в …», «рождения: …»)
_QUESTION = "?"
_CENTURIES = ("19", "20")  # the first digits of a year of birth written in digits
_DATE_LEAD_PUNCT = frozenset(":—-")  # may stand between a birth cue and the date after it
_DATE_TAIL_PUNCT = frozenset(":—-,")  # may stand between a date and the birth cue after it («1 января 1970, дата…»)


class BirthDates:
    """Finds dates of birth."""

    def __init__(self, rules: Rules) -> None:
        self._rules = rules

    def find(self, tokens: list[Token], taken: list[bool]) -> list[TokenRange]:
        """The token ranges of the dates of birth, merged where they overlap, none of whose tokens is ``taken``."""
        rules = self._rules
        found: list[TokenRange] = []
        words = [i for i, t in enumerate(tokens) if t.kind != "punct" or t.text in SENTENCE_END]
        for position, index in enumerate(words):
            if self._is_birth_cue(tokens[index]):
                after = self._date_after_cue(tokens, words, position)
                if after:
                    found.append(after)
                    found.extend(self._year_apart(tokens, after[1]))
                # the date before the cue («1985 года рождения»); past «дата» only when the cue closes the
                # sentence («1 января 1970, дата рождения.»), since a date before «дата рождения не …» is another
                closes = position + 1 == len(words) or tokens[words[position + 1]].text in SENTENCE_END
                before = self._date_before_cue(tokens, words, position, past_head=after is None and closes)
                if before:
                    found.append(before)
            elif tokens[index].norm in rules.birth_year_subjects:
                year = self._genitive_year(tokens, index)
                if year:
                    found.append(year)
        return [run for run in _disjoint(found) if not any(taken[run[0]:run[1] + 1])]

    def _is_date_part(self, token: Token) -> bool:
        rules = self._rules
        if token.kind in ("date", "ordinal") or (token.kind == "num" and len(token.text) <= 4):
            return True
        if token.kind != "word":
            return False
        lemma = token.lemma
        return (lemma in rules.number_words or lemma in rules.ordinals or lemma in rules.months
                or lemma in rules.thousand or lemma in rules.year_words or token.norm in rules.year_words)

    def _date_run(self, tokens: list[Token], start: int, step: int) -> TokenRange | None:
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

    def _looks_like_date(self, parts: list[Token]) -> bool:
        """A month, a numeric date, a year word after a number, an ordinal or a four-digit year is there."""
        rules = self._rules
        for index, token in enumerate(parts):
            if token.kind in ("date", "ordinal") or (
                    token.kind == "num" and len(token.text) == 4 and token.text[:2] in _CENTURIES):
                return True
            if token.kind == "word" and (token.lemma in rules.months or token.lemma in rules.ordinals):
                return True
            if index > 0 and in_words(token, rules.year_words):
                return True
        return False

    def _is_birth_cue(self, token: Token) -> bool:
        """«родилась», «рождения», and a cue Whisper glued or misspelt («Датрождение»)."""
        rules = self._rules
        return token.kind == "word" and (
            token.lemma in rules.birth_cues or any(stem in token.norm for stem in rules.birth_cue_stems))

    def _date_after_cue(self, tokens: list[Token], words: list[int], position: int) -> TokenRange | None:
        """The date after the cue at ``words[position]``, maybe past a word or two («родилась в …») or past the
        cue asked back as a question («Дату рождения? Седьмое ноября …»)."""
        for skip in range(_BIRTH_SKIP + 1):
            if position + 1 + skip >= len(words):
                break
            start = words[position + 1 + skip]
            between = tokens[words[position + skip] + 1:start]
            if any(t.text not in _DATE_LEAD_PUNCT for t in between):
                break
            if tokens[start].text in SENTENCE_END:
                if tokens[start].text == _QUESTION and skip == 0:
                    continue
                break
            run = self._date_run(tokens, start, 1)
            if run:
                return self._with_preposition(tokens, run, words[position])
        return None

    def _with_preposition(self, tokens: list[Token], run: TokenRange, cue: int) -> TokenRange:
        """The date with the preposition before it when one stands between it and the cue («в 1983 году»)."""
        first, last = run
        if first - 1 > cue and tokens[first - 1].norm in self._rules.date_prepositions:
            return first - 1, last
        return run

    def _year_apart(self, tokens: list[Token], last: int) -> list[TokenRange]:
        """A year said apart after a birth date: «третьего сентября, год 1992»."""
        index = last + 1
        while index < len(tokens) and tokens[index].text in _DATE_TAIL_PUNCT:
            index += 1
        if index < len(tokens) and tokens[index].kind == "word" and in_words(tokens[index], self._rules.year_words):
            run = self._date_run(tokens, index, 1)
            if run:
                return [run]
        return []

    def _date_before_cue(self, tokens: list[Token], words: list[int], position: int,
                         past_head: bool) -> TokenRange | None:
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

    def _genitive_year(self, tokens: list[Token], subject: int) -> TokenRange | None:
        """«я восемьдесят пятого года»: a year in the genitive right after a person is the year they were born."""
        if subject + 1 >= len(tokens):
            return None
        run = self._date_run(tokens, subject + 1, 1)
        if run and tokens[run[1]].norm in self._rules.birth_year_forms:
            return run
        return None


def _disjoint(runs: list[TokenRange]) -> list[TokenRange]:
    """Token ranges merged where they overlap."""
    merged: list[TokenRange] = []
    for first, last in sorted(runs):
        if merged and first <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
        else:
            merged.append((first, last))
    return merged
