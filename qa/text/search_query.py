"""The transcript search's query language, parsed into a small record of lemmatised words.

Words are normalised and lemmatised exactly as transcripts are (:func:`qa.text.normalize.split_normalized`, then the
lemmatizer), so «вернуть деньги» finds «верните деньги» and «вернули денег». The syntax (README «Поиск по
разговорам»)::

    вернуть деньги              both words in one sentence (any order, any distance)
    "верните деньги"            a phrase: these words side by side, in this order («ёлочки» and „лапки“ too)
    «вернуть деньги»~3          these words within 3 other words of each other, in any order
    суд OR жалоба               either (ИЛИ; binds tighter than the plain «and»: «суд OR жалоба деньги»)
    деньги -спасибо             not in a sentence that has «спасибо» (NOT, НЕ)
    (суд OR прокуратура) деньги parentheses group

Operator words count only in capitals («не» and «или» in lower case are words). Unquoted stop-words
(``qa/text/data/search.json``) are left out; inside quotes every word counts. A query that cannot be searched raises
:class:`QueryError` with a message in Russian for the page and the CLI.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from qa.text.analysis import LemmatizerLike
from qa.text.normalize import split_normalized

_DATA = Path(__file__).parent / "data" / "search.json"


class QueryError(ValueError):
    """A search query that cannot be run; ``str()`` says why, in Russian."""


@dataclass(frozen=True)
class SearchLanguage:
    """The word lists and limits of ``qa/text/data/search.json``."""

    stop_words: frozenset[str]
    or_words: frozenset[str]
    not_words: frozenset[str]
    and_words: frozenset[str]
    quotes: dict[str, tuple[str, ...]]
    max_chars: int
    max_terms: int
    max_slop: int
    fuzzy_cutoff: int
    fuzzy_min_len: int
    fuzzy_max_variants: int


@cache
def language() -> SearchLanguage:
    """The query language's settings (read once)."""
    data = json.loads(_DATA.read_text(encoding="utf-8"))
    return SearchLanguage(
        stop_words=frozenset(data["stop_words"]), or_words=frozenset(data["or_words"]),
        not_words=frozenset(data["not_words"]), and_words=frozenset(data["and_words"]),
        quotes={k: tuple(v) for k, v in data["quotes"].items()}, max_chars=int(data["max_chars"]),
        max_terms=int(data["max_terms"]), max_slop=int(data["max_slop"]), fuzzy_cutoff=int(data["fuzzy_cutoff"]),
        fuzzy_min_len=int(data["fuzzy_min_len"]), fuzzy_max_variants=int(data["fuzzy_max_variants"]),
    )


@dataclass(frozen=True)
class QueryWord:
    """One word of a query: as typed, normalised, its lemma, and whether it is a stop-word."""

    typed: str
    norm: str
    lemma: str
    stop: bool = False


@dataclass(frozen=True)
class Atom:
    """Words to find in one sentence: one word; a phrase (``slop`` ``None``: side by side, in order); or words within
    ``slop`` other words of each other, in any order (``«…»~N``)."""

    words: tuple[QueryWord, ...]
    slop: int | None = None
    quoted: bool = False

    @property
    def text(self) -> str:
        shown = " ".join(w.typed for w in self.words)
        if len(self.words) == 1 and not self.quoted:
            return shown
        return f"«{shown}»" + (f"~{self.slop}" if self.slop is not None else "")


@dataclass(frozen=True)
class Group:
    """``all``: every part (and none of ``excluded``) in the sentence; ``any``: one of the parts."""

    op: Literal["all", "any"]
    parts: tuple[Atom | Group, ...]
    excluded: tuple[Atom | Group, ...] = ()


Part = Atom | Group


@dataclass(frozen=True)
class SearchQuery:
    """A parsed query: what was typed, its tree (the root is an ``all`` group), the stop-words left out, and
    whether stored lemmas close to a word count too (fuzzy mode, for ASR slips)."""

    text: str
    root: Group
    fuzzy: bool = False
    dropped: tuple[str, ...] = ()
    atoms: tuple[Atom, ...] = field(default=(), compare=False)

    def lemmas(self) -> list[str]:
        """Every lemma the query looks for (excluded words left out), in order, each once."""
        seen: dict[str, None] = {}
        for atom in positive_atoms(self.root):
            for w in atom.words:
                seen.setdefault(w.lemma, None)
        return list(seen)


def positive_atoms(part: Part) -> list[Atom]:
    """The atoms a match must (or may) contain, ``excluded`` ones left out."""
    if isinstance(part, Atom):
        return [part]
    return [a for p in part.parts for a in positive_atoms(p)]


# --- lexing ----------------------------------------------------------------------------------------------------

_SLOP = re.compile(r"~(\d*)")


@dataclass(frozen=True)
class _Lexeme:
    kind: Literal["word", "phrase", "open", "close", "or", "not", "and"]
    text: str = ""
    at: int = 0
    slop: int | None = None


def _lex(text: str, lang: SearchLanguage) -> list[_Lexeme]:
    closers = {c for ends in lang.quotes.values() for c in ends}
    out: list[_Lexeme] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            out.append(_Lexeme("open" if ch == "(" else "close", ch, i))
            i += 1
        elif ch in lang.quotes:
            ends = lang.quotes[ch]
            j = next((k for k in range(i + 1, n) if text[k] in ends), -1)
            if j < 0:
                raise QueryError(f"Незакрытая кавычка {ch} (символ {i + 1}): закройте фразу кавычкой "
                                 f"{' или '.join(ends)}")
            slop = None
            found = _SLOP.match(text, j + 1)
            if found:
                if not found.group(1):
                    raise QueryError(f"После ~ нужно число (символ {j + 3}), например «вернуть деньги»~3")
                slop = int(found.group(1))
                if slop > lang.max_slop:
                    raise QueryError(f"~{slop}: слова могут стоять не дальше чем через {lang.max_slop} других")
            out.append(_Lexeme("phrase", text[i + 1:j], i, slop))
            i = found.end() if found else j + 1
        elif ch in closers:
            raise QueryError(f"Закрывающая кавычка {ch} без открывающей (символ {i + 1})")
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in "()" and text[j] not in lang.quotes \
                    and text[j] not in closers:
                j += 1
            word = text[i:j]
            if "~" in word:
                raise QueryError(f"«{word}»: ~N ставится сразу после закрывающей кавычки фразы, например "
                                 "«вернуть деньги»~3")
            if word in lang.or_words or word == "|":
                out.append(_Lexeme("or", word, i))
            elif word in lang.not_words:
                out.append(_Lexeme("not", word, i))
            elif word in lang.and_words:
                out.append(_Lexeme("and", word, i))
            elif word.startswith("-") and len(word) > 1:
                out.append(_Lexeme("not", "-", i))
                out.append(_Lexeme("word", word[1:], i + 1))
            else:
                out.append(_Lexeme("word", word, i))
            i = j
    return out


# --- parsing ---------------------------------------------------------------------------------------------------


class _Parser:
    """Recursive descent: ``conj := disj+``, ``disj := unary (OR unary)*``, ``unary := NOT unary | primary``,
    ``primary := word | phrase | ( conj )``. Nodes are ``("all"|"any", [...])``, ``("not", node)`` or a lexeme."""

    def __init__(self, lexemes: list[_Lexeme]) -> None:
        self.lexemes = lexemes
        self.i = 0

    def peek(self) -> _Lexeme | None:
        return self.lexemes[self.i] if self.i < len(self.lexemes) else None

    def take(self) -> _Lexeme:
        lexeme = self.lexemes[self.i]
        self.i += 1
        return lexeme

    def conj(self, depth: int) -> tuple:
        items = []
        while (nxt := self.peek()) is not None and nxt.kind != "close":
            if nxt.kind == "and":
                self.take()
                continue
            if nxt.kind == "or":
                raise QueryError(f"{nxt.text} без первой части (символ {nxt.at + 1}): напишите, например, "
                                 "«суд OR жалоба»")
            items.append(self.disj(depth))
        if depth and self.peek() is None:
            raise QueryError("Непарная скобка: не хватает закрывающей «)»")
        return ("all", items)

    def disj(self, depth: int) -> object:
        parts = [self.unary(depth)]
        while (nxt := self.peek()) is not None and nxt.kind == "or":
            self.take()
            following = self.peek()
            if following is None or following.kind in ("close", "or", "and"):
                raise QueryError(f"{nxt.text} без второй части (символ {nxt.at + 1})")
            parts.append(self.unary(depth))
        return parts[0] if len(parts) == 1 else ("any", parts)

    def unary(self, depth: int) -> object:
        lexeme = self.take()
        if lexeme.kind == "not":
            following = self.peek()
            if following is None or following.kind in ("close", "or", "and", "not"):
                raise QueryError(f"После {lexeme.text} нужно слово или фраза (символ {lexeme.at + 1})")
            return ("not", self.unary(depth))
        if lexeme.kind == "open":
            inner = self.conj(depth + 1)
            self.take()  # the ')' conj stopped at
            return inner
        if lexeme.kind == "close":
            raise QueryError(f"Непарная скобка «)» (символ {lexeme.at + 1})")
        return lexeme


def parse_query(text: str, lemmatizer: LemmatizerLike, fuzzy: bool = False) -> SearchQuery:
    """Parse a search query (see the module's docstring); :class:`QueryError` when it cannot be searched."""
    lang = language()
    if text is None or not text.strip():
        raise QueryError("Пустой запрос: введите слова для поиска, например «вернуть деньги»")
    if len(text) > lang.max_chars:
        size = f"{len(text):,}".replace(",", " ")
        raise QueryError(f"Запрос слишком длинный: {size} символов, можно не больше {lang.max_chars}")
    parser = _Parser(_lex(text, lang))
    tree = parser.conj(0)
    if parser.peek() is not None:
        raise QueryError(f"Непарная скобка «)» (символ {parser.peek().at + 1})")  # type: ignore[union-attr]
    dropped: list[str] = []
    built = _build(tree, lemmatizer, lang, dropped)
    root = built if built is None or (isinstance(built, Group) and built.op == "all") else Group("all", (built,))
    atoms = positive_atoms(root) if root is not None else []
    if root is None or not atoms:
        if dropped and not _has_excluded(tree):
            raise QueryError("В запросе только служебные слова (" + ", ".join(f"«{w}»" for w in dropped[:6])
                             + "): добавьте значимое слово, например «вернуть деньги»")
        if _has_excluded(tree):
            raise QueryError("В запросе только исключения (NOT, минус): добавьте слова, которые нужно найти")
        raise QueryError("В запросе нет слов для поиска")
    assert isinstance(root, Group)
    words = sum(len(a.words) for a in _all_atoms(root))
    if words > lang.max_terms:
        raise QueryError(f"Слишком много слов в запросе: {words}, можно не больше {lang.max_terms}")
    return SearchQuery(text, root, fuzzy, tuple(dict.fromkeys(dropped)), tuple(atoms))


def _has_excluded(node: object) -> bool:
    if isinstance(node, tuple):
        if node[0] == "not":
            return True
        return any(_has_excluded(p) for p in node[1])
    return False


def _all_atoms(part: Part) -> list[Atom]:
    if isinstance(part, Atom):
        return [part]
    return [a for p in (*part.parts, *part.excluded) for a in _all_atoms(p)]


def _words(text: str, lemmatizer: LemmatizerLike, lang: SearchLanguage) -> tuple[QueryWord, ...]:
    out = []
    for surface, norm in split_normalized(text):
        lemma = lemmatizer.lemma(norm)
        out.append(QueryWord(surface, norm, lemma, lemma in lang.stop_words or norm in lang.stop_words))
    return tuple(out)


def _build(node: object, lemmatizer: LemmatizerLike, lang: SearchLanguage, dropped: list[str]) -> Part | None:
    """The record of a parse node; stop-word-only atoms left out (``None``: nothing left)."""
    if isinstance(node, _Lexeme):
        words = _words(node.text, lemmatizer, lang)
        if not words:
            return None
        if all(w.stop for w in words):
            dropped.extend(w.typed for w in words)
            return None
        quoted = node.kind == "phrase"
        if len(words) > 1 and node.slop is None:
            return Atom(words, None, quoted)
        return Atom(words, node.slop if len(words) > 1 else None, quoted)
    kind, body = node  # type: ignore[misc]
    if kind == "not":
        raise AssertionError("a NOT is built by its group")
    parts: list[Part] = []
    excluded: list[Part] = []
    for item in body:
        if isinstance(item, tuple) and item[0] == "not":
            if kind == "any":
                raise QueryError("NOT (минус) нельзя ставить внутри OR: вынесите исключение отдельно")
            inner = _build(item[1], lemmatizer, lang, dropped)
            if inner is not None:
                excluded.append(inner)
            continue
        built = _build(item, lemmatizer, lang, dropped)
        if built is not None:
            parts.append(built)
    if kind == "any":
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else Group("any", tuple(parts))
    if not parts:
        if excluded:
            raise QueryError("В запросе только исключения (NOT, минус): добавьте слова, которые нужно найти")
        return None
    if len(parts) == 1 and not excluded:
        return parts[0]
    return Group("all", tuple(parts), tuple(excluded))
