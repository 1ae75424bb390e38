"""Transcript search as the page and ``qa search`` show it, and a search saved as a draft rule.

:func:`run_search` parses the query (:mod:`qa.text.search_query`), runs it on the index (:mod:`qa.store.search`)
and cuts each hit's sentence around the match with the words marked and personal data masked
(:mod:`qa.text.snippets`). :func:`save_as_rule` turns the sentences a supervisor marked right or wrong into a
draft rule and its test file (:mod:`qa.rules.drafting`) and audits it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.rules.drafting import Draft, DraftChoices, Example, draft_rule, save_draft
from qa.store import Store
from qa.store.search import SearchFilters, SearchHit, SearchPage, search, sentences
from qa.text.search_query import QueryError, SearchQuery, parse_query
from qa.text.snippets import Mask, Piece, plain, snippet

_LONG_NUMBER = re.compile(r"\d[\d\s()+-]{3,}\d")
NAME_SHARE = 0.5  # a query word whose readings are at least this much a person's name is personal data


@dataclass(frozen=True)
class ShownHit:
    """A hit and its snippet: the sentence around the match, words marked, personal data masked (unless shown)."""

    hit: SearchHit
    pieces: list[Piece]

    @property
    def snippet_text(self) -> str:
        return plain(self.pieces)


@dataclass(frozen=True)
class SearchResult:
    """One page of a search as shown: the parsed query, the page of hits and their snippets, the time it took."""

    query: SearchQuery
    page: SearchPage
    shown: list[ShownHit]
    took_ms: float


def _lemmatizer(given: Any) -> Any:
    if given is not None:
        return given
    from qa.text.lemmatizer import get_lemmatizer

    return get_lemmatizer()


def masks_of(text: str, redactor: Any) -> list[Mask]:
    """The personal data of ``text`` as masks with the redactor's placeholders (none without a redactor)."""
    if redactor is None:
        return []
    return [Mask(s.start, s.end, redactor.placeholder(s.kind)) for s in redactor.find(text)]


def personal_data_in_query(text: str, redactor: Any, lemmatizer: Any = None) -> list[str]:
    """What in a query is personal data, each as «placeholder «words»» (a number of five digits or more, an
    e-mail, a person's name, what the redactor finds): a user who may not see personal data may not search for it
    either, or a search would tell them what the page masks."""
    found: dict[str, str] = {}
    numbers = _LONG_NUMBER.findall(text)
    for number in numbers:
        if sum(c.isdigit() for c in number) >= 5:
            found[number] = "[НОМЕР]"
    for word in (w for w in text.split() if "@" in w):
        found[word] = "[E-MAIL]"
    if redactor is not None:
        for span in redactor.find(text):
            found.setdefault(span.text, redactor.placeholder(span.kind))
    tags = getattr(_lemmatizer(lemmatizer), "name_tags", None)
    if tags is not None:
        from qa.text.normalize import split_normalized

        for surface, norm in split_normalized(text):
            if sum(tags(norm).values()) >= NAME_SHARE and not any(surface in k for k in found):
                found[surface] = redactor.placeholder("name") if redactor is not None else "[ИМЯ]"
    return [f"{kind} «{words}»" for words, kind in found.items()]


def run_search(store: Store, text: str, filters: SearchFilters | None = None, fuzzy: bool = False,
               page: int = 1, size: int = 25, redactor: Any = None, lemmatizer: Any = None) -> SearchResult:
    """Parse and run a search; its snippets masked with ``redactor`` (``None``: shown as stored).
    :class:`~qa.text.search_query.QueryError` for a query that cannot be searched."""
    lemmatizer = _lemmatizer(lemmatizer)
    start = time.perf_counter()
    query = parse_query(text, lemmatizer, fuzzy=fuzzy)
    result = search(store, query, filters or SearchFilters(), limit=size, offset=(max(page, 1) - 1) * size)
    took = (time.perf_counter() - start) * 1000
    wanted = set(query.lemmas()) | {v for variants in result.variants.values() for v in variants}
    shown = [ShownHit(h, snippet(h.text, wanted, lemmatizer, masks_of(h.text, redactor))) for h in result.hits]
    return SearchResult(query, result, shown, took)


def parse_marks(values: Sequence[str], hits: Sequence[SearchHit] = ()) -> list[tuple[str, int]]:
    """Marked sentences as ``(conversation_id, utterance_idx)``: ``CID:IDX`` keys, or numbers of ``hits`` (from 1).
    :class:`QueryError` for one that names nothing."""
    keys: list[tuple[str, int]] = []
    for value in values:
        for item in (v.strip() for v in value.split(",")):
            if not item:
                continue
            if item.isdigit() and hits:
                number = int(item)
                if not 1 <= number <= len(hits):
                    raise QueryError(f"Нет результата №{number}: на странице {len(hits)}")
                keys.append((hits[number - 1].conversation_id, hits[number - 1].utterance_idx))
                continue
            cid, sep, idx = item.rpartition(":")
            if not sep or not cid or not idx.isdigit():
                raise QueryError(f"{item!r}: отметка — номер результата или «разговор:реплика» (call-0003:6)")
            keys.append((cid, int(idx)))
    return list(dict.fromkeys(keys))


def _source(hit: dict[str, Any]) -> str:
    whole = int(hit["start_s"] or 0)
    return f"{hit['conversation_id']}, реплика {hit['utterance_idx'] + 1}, {whole // 60}:{whole % 60:02d}"


def draft_examples(store: Store, right: Sequence[tuple[str, int]], wrong: Sequence[tuple[str, int]],
                   redactor: Any, teams: Sequence[str] | None = None) -> list[Example]:
    """The marked sentences as examples for a draft (personal data masked), with the turns next to the first right
    ones as spare wrong examples. ``teams``: the only teams they may come from (``LookupError`` otherwise)."""
    marked = {**{k: True for k in right}, **{k: False for k in wrong}}
    around = [(cid, idx + step) for cid, idx in list(right)[:3] for step in (-1, 1) if idx + step >= 0]
    found = sentences(store, [*marked, *around])
    missing = [f"{cid}:{idx}" for cid, idx in marked if (cid, idx) not in found]
    if missing:
        raise LookupError(f"Не найдены реплики: {', '.join(missing)}")
    if teams is not None:
        foreign = [f"{cid}:{idx}" for (cid, idx) in [*marked, *around]
                   if (cid, idx) in found and found[(cid, idx)]["team"] not in teams]
        if foreign:
            raise PermissionError(f"Реплики другой команды: {', '.join(foreign)}")

    def example(key: tuple[str, int], right_mark: bool, spare: bool = False) -> Example:
        row = found[key]
        text = redactor.redact(row["text"]).text if redactor is not None else row["text"]
        return Example(text, row["speaker"], row["channel"], right_mark, _source(row), spare)

    examples = [example(k, mark) for k, mark in marked.items()]
    examples += [example(k, False, spare=True) for k in around if k in found and k not in marked]
    return examples


def save_as_rule(store: Store, text: str, fuzzy: bool, right: Sequence[tuple[str, int]],
                 wrong: Sequence[tuple[str, int]], choices: DraftChoices, rules_dir: str | Path,
                 overwrite: bool = False, redactor: Any = None, lemmatizer: Any = None,
                 teams: Sequence[str] | None = None) -> tuple[Draft, list[Path]]:
    """Draft a rule from a search and its marked sentences, test it, write it and its test file into
    ``rules_dir`` (:class:`~qa.rules.drafting.RuleExists` unless ``overwrite``). Auditing is the caller's: it knows
    who asked."""
    lemmatizer = _lemmatizer(lemmatizer)
    query = parse_query(text, lemmatizer, fuzzy=fuzzy)
    examples = draft_examples(store, right, wrong, redactor, teams)
    draft = draft_rule(query, examples, choices, rules_dir, lemmatizer)
    return draft, save_draft(draft, rules_dir, overwrite)
