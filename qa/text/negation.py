"""Negation and hypothetical scope: is a phrase hit denied («жаловаться я не собираюсь») or only supposed («если бы»)?

The cue words live in ``qa/text/data/negation.json`` (data, not code). A hit is *negated* when a negator
(не/нет/ни/без…) stands within ``words_before`` words before it or ``words_after`` words after it, inside the
same clause: a clause ends at a punctuation mark in the utterance's text or at a contrasting conjunction («но», «а»).
A hit is *hypothetical* when a subjunctive cue («бы») stands before it in its clause. Negators inside the hit's own span
(the phrase «ничем не могу помочь» itself) do not count. One case crosses a comma, as Whisper puts commas
between a verb and its infinitive that no writer would: a fronted infinitive denied by a negated modal after it
(«жаловаться, я не собираюсь») and any hit before a negated verb of motion that ends its clause («суд, я не
пойду»), and a fronted noun before an existential negation ending its clause («Претензий, у меня нет»); see
:func:`_governed_denial`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from qa.records import Token

_DATA = Path(__file__).with_name("data") / "negation.json"


@dataclass(frozen=True, slots=True)
class NegationCues:
    """The cue words and window sizes, read from a JSON file."""

    negators_before: frozenset[str]
    negators_after: frozenset[str]  # «без» after a trigger governs the next noun («компенсацию … без связи»)
    governors_after: frozenset[str]  # «не собираюсь» after an infinitive trigger, even past a comma
    motion_governors_after: frozenset[str]  # «(в) суд, я не пойду»: after any trigger
    possessors_after: frozenset[tuple[str, ...]]  # «претензий, у меня нет»: ending its clause, after a fronted noun
    infinitive_endings: tuple[str, ...]
    governor_words_after: int
    hypothetical: frozenset[str]
    clause_conjunctions: frozenset[str]
    clause_marks: frozenset[str]
    words_before: int
    words_after: int
    hypothetical_words_before: int


def load_cues(path: str | Path = _DATA) -> NegationCues:
    """Read negation cues from ``path``; a missing or malformed field is an error naming the file and field."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    try:
        return NegationCues(
            negators_before=frozenset(w.replace("ё", "е") for w in data["negators_before"]),
            negators_after=frozenset(w.replace("ё", "е") for w in data["negators_after"]),
            governors_after=frozenset(w.replace("ё", "е") for w in data["governors_after"]),
            motion_governors_after=frozenset(w.replace("ё", "е") for w in data["motion_governors_after"]),
            possessors_after=frozenset(tuple(w.replace("ё", "е").split()) for w in data["possessors_after"]),
            infinitive_endings=tuple(data["infinitive_endings"]),
            governor_words_after=int(data["governor_words_after"]),
            hypothetical=frozenset(w.replace("ё", "е") for w in data["hypothetical"]),
            clause_conjunctions=frozenset(w.replace("ё", "е") for w in data["clause_conjunctions"]),
            clause_marks=frozenset(data["clause_marks"]),
            words_before=int(data["words_before"]),
            words_after=int(data["words_after"]),
            hypothetical_words_before=int(data["hypothetical_words_before"]),
        )
    except KeyError as exc:
        raise ValueError(f"{path}: field {exc.args[0]!r} is missing") from exc


@lru_cache(maxsize=1)
def default_cues() -> NegationCues:
    """The packaged cues (read on first use, not at import)."""
    return load_cues()


def clause_ids(text: str, tokens: Sequence[Token], cues: NegationCues) -> Sequence[int]:
    """A clause number per token: it grows at punctuation between tokens and at a contrasting conjunction."""
    memo = _clauses.get(id(tokens))  # an utterance's hits ask again, rule after rule: the same answer
    if memo is not None and memo[0] is text and memo[1] is tokens and memo[2] is cues:
        return memo[3]  # a tuple: callers only read it
    ids: list[int] = []
    clause, cursor = 0, 0
    marks, conjunctions, find = cues.clause_marks, cues.clause_conjunctions, text.find
    for tok in tokens:
        surface = tok.text
        found = find(surface, cursor) if surface else -1
        if found >= 0:
            if ids and found > cursor and not marks.isdisjoint(text[cursor:found]):
                clause += 1
            cursor = found + len(surface)
        if ids and tok.norm in conjunctions:
            clause += 1
        ids.append(clause)
    if type(tokens) is tuple:  # immutable, and kept alive by the memo: safe to remember by identity
        if len(_clauses) >= _CLAUSES_KEPT:
            _clauses.clear()
        _clauses[id(tokens)] = (text, tokens, cues, tuple(ids))
    return ids


_CLAUSES_KEPT = 512  # utterances remembered (about three conversations)
_clauses: dict[int, tuple[str, Sequence[Token], NegationCues, tuple[int, ...]]] = {}


@dataclass(frozen=True, slots=True)
class Scope:
    """Why a hit does not count: the cue word and its kind («negated» or «hypothetical»)."""

    kind: str
    cue: str


def denial(text: str, tokens: Sequence[Token], first: int, last: int, cues: NegationCues | None = None) -> Scope | None:
    """The negation or hypothetical cue that scopes over tokens ``first..last``, or None."""
    cues = cues or default_cues()
    ids = clause_ids(text, tokens, cues)
    lo_clause, hi_clause = ids[first], ids[last]
    for j in range(first - 1, max(-1, first - 1 - cues.hypothetical_words_before), -1):
        if ids[j] != lo_clause:
            break
        if tokens[j].norm in cues.hypothetical:
            return Scope("hypothetical", tokens[j].text)
        if first - j <= cues.words_before and tokens[j].norm in cues.negators_before:
            return Scope("negated", tokens[j].text)
    for j in range(last + 1, min(len(tokens), last + 1 + cues.words_after)):
        if ids[j] != hi_clause:
            break
        if tokens[j].norm in cues.negators_after:
            return Scope("negated", tokens[j].text)
    return _governed_denial(tokens, ids, first, last, cues)


def _infinitive(word: str, cues: NegationCues) -> bool:
    return word.endswith(cues.infinitive_endings)


def _governed_denial(tokens: Sequence[Token], ids: Sequence[int], first: int, last: int,
                     cues: NegationCues) -> Scope | None:
    """A hit denied by a negated governing verb after it, across one punctuation mark but no conjunction
    (Whisper puts commas between a verb and its infinitive that no writer would).

    A modal («не собираюсь», «не хочу», «не стану»…) denies a fronted infinitive: the hit's clause opens with an
    infinitive («жаловаться, я не собираюсь», «ругаться и жаловаться, я не собираюсь», «обращаться в
    прокуратуру, мы не будем») and holds no governor of its own («жаловаться буду, не хочу ждать»; «хочу
    пожаловаться, не хочу ждать» stays a complaint too). A verb of motion denies any hit where it ends its
    clause («суд, я не пойду, но…»; not «подам в суд, не пойду на уступки»).
    """
    end = min(len(tokens), last + 1 + cues.governor_words_after)
    for j in range(last + 1, end):
        if ids[j] > ids[last] + 1 or tokens[j].norm in cues.clause_conjunctions:
            return None
        if tokens[j].norm not in cues.negators_after:
            continue
        if _possessed(tokens, ids, first, j, cues):
            return Scope("negated", tokens[j].text)
        if j + 1 >= end:
            return None
        governor = tokens[j + 1].norm
        if governor in cues.governors_after and _fronted(tokens, ids, first, last, cues):
            return Scope("negated", tokens[j].text)
        if governor in cues.motion_governors_after and _ends_clause(ids, j + 1):
            return Scope("negated", tokens[j].text)
        return None
    return None


def _possessed(tokens: Sequence[Token], ids: Sequence[int], first: int, j: int, cues: NegationCues) -> bool:
    """Whether the negator at ``j`` ends a clause «у меня нет» and the hit opens its own clause («Претензий, у меня
    нет»: Whisper's comma before the existential negation; not «подам в суд, у меня нет выбора»)."""
    span = tuple(t.norm for t in tokens[max(0, j - 2):j])
    opens = first == 0 or ids[first - 1] != ids[first]
    return span in cues.possessors_after and ids[j - 2] == ids[j] and _ends_clause(ids, j) and opens


def _ends_clause(ids: Sequence[int], k: int) -> bool:
    """Whether the token at ``k`` is the last of its clause (``ids``: each token's clause)."""
    return k + 1 >= len(ids) or ids[k + 1] != ids[k]


def _fronted(tokens: Sequence[Token], ids: Sequence[int], first: int, last: int, cues: NegationCues) -> bool:
    """Whether the hit's clause opens with an infinitive and holds no governing verb of its own."""
    clause = ids[first]
    before = [t for k, t in enumerate(tokens[:first]) if ids[k] == clause]
    rest = [t for k, t in enumerate(tokens[last + 1:], last + 1) if ids[k] == clause]
    opening = before[0] if before else tokens[first]
    governed = any(t.norm in cues.governors_after or t.norm in cues.motion_governors_after for t in [*before, *rest])
    return _infinitive(opening.norm, cues) and not governed
