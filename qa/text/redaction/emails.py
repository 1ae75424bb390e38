"""E-mail addresses, typed («ivan.petrov@mail.ru») or dictated («иван точка петров собака мейл точка ру»).

A typed address is found by its shape. A dictated one is built around an «at» word («собака»): the domain after it,
parts joined by «dot» words, joiners or glued punctuation, must hold a known domain or top-level domain word; the
local part before it runs back over glued tokens, joiners and, for a number said in words, its number words, and
stops at a stop word («почта», «адрес»…). All these words are in ``pii.json``'s ``email`` section.
"""

from __future__ import annotations

import re

from qa.text.redaction.lexicon import Rules
from qa.text.redaction.tokens import Token, TokenRange, in_words

_TYPED_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def typed_emails(text: str, tokens: list[Token]) -> list[TokenRange]:
    """The token ranges of the addresses typed in ``text`` («name@host.ru»)."""
    found: list[TokenRange] = []
    for match in _TYPED_EMAIL.finditer(text):
        inside = [i for i, t in enumerate(tokens) if t.start >= match.start() and t.end <= match.end()]
        if inside:
            found.append((inside[0], inside[-1]))
    return found


class DictatedEmails:
    """Finds e-mail addresses spelled out in words."""

    def __init__(self, rules: Rules) -> None:
        self._rules = rules

    def find(self, tokens: list[Token], taken: list[bool]) -> list[TokenRange]:
        """The token ranges of the dictated addresses, none of whose tokens is ``taken``."""
        rules = self._rules
        found: list[TokenRange] = []
        for at, token in enumerate(tokens):
            if taken[at] or token.kind != "word" or token.norm not in rules.at_words:
                continue
            last = self._domain_end(tokens, at)
            first = self._local_start(tokens, at)
            if last is not None and first is not None and not any(taken[first:last + 1]):
                found.append((first, last))
        return found

    def _domain_end(self, tokens: list[Token], at: int) -> int | None:
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
            elif in_words(token, rules.dot_words) or in_words(token, rules.joiner_words) or token.text in ".-_":
                if expect_part:
                    break
                expect_part = True
            else:
                break
            index += 1
        return last if last is not None and known else None

    def _local_start(self, tokens: list[Token], at: int) -> int | None:
        """The first token of the address before the «собака», or None when there is none."""
        rules = self._rules
        index = at - 1
        if index < 0 or tokens[index].kind not in ("word", "num") or in_words(tokens[index], rules.email_stop_words):
            return None
        first = index
        numbers_only = self._is_number_token(tokens[index])
        while first > 0:
            previous, current = tokens[first - 1], tokens[first]
            glued = previous.end == current.start and previous.kind != "punct"
            joiner = in_words(previous, rules.dot_words) or in_words(previous, rules.joiner_words) or (
                previous.text in "._-")
            after_joiner = in_words(current, rules.dot_words) or in_words(current, rules.joiner_words)
            if in_words(previous, rules.email_stop_words) and not glued:
                break
            if glued or joiner or (after_joiner and previous.kind in ("word", "num")):
                first -= 1
            elif numbers_only and previous.kind in ("word", "num"):
                first -= 1
                numbers_only = self._is_number_token(previous)
            else:
                break
        while first < at and (in_words(tokens[first], rules.dot_words) or in_words(tokens[first], rules.joiner_words)):
            first += 1
        return first if first < at else None

    def _is_number_token(self, token: Token) -> bool:
        return token.kind == "num" or (token.kind == "word" and token.lemma in self._rules.number_words)
