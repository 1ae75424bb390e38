"""Which brand a conversation speaks for, and which brand (or organisation) the operator named.

The brand comes from the conversation's ``company`` field (sidecar or chat), else its team or line in
``ruleset.yml`` ``company.brands``, else the default ``company.names``. With none of these the company step
only asks that an organisation was named: an organisation noun of ``company.org_types`` followed by a
capitalised or quoted name («компания Телеком Плюс», «интернет-магазин Домовой»).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from qa.fuzzy import close_keys
from qa.records import Conversation, Token
from qa.rules.ruleset import Company
from qa.text.analysis import LemmatizerLike
from qa.text.normalize import split_normalized

DEFAULT_BRAND = "default"
LINE_KEYS = ("line", "queue")
ORG_NAME_MAX_WORDS = 3


@dataclass(frozen=True, slots=True)
class Brand:
    """A brand: its key in the rule set and the names it is spoken as."""

    key: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class BrandBook:
    """Every configured brand, and the organisation nouns (lemmatised) for the fallback check."""

    brands: tuple[Brand, ...]
    teams: dict[str, str]
    lines: dict[str, str]
    org_types: tuple[tuple[str, ...], ...]

    def brand(self, key: str) -> Brand:
        return next(b for b in self.brands if b.key == key)

    def brand_of_phrase(self) -> dict[str, str]:
        """Spoken name → brand key (the first brand wins a name two share)."""
        out: dict[str, str] = {}
        for b in self.brands:
            for name in b.names:
                out.setdefault(name, b.key)
        return out

    def expected(self, conversation: Conversation) -> Brand | None:
        """The brand this conversation must name, or None when any organisation will do."""
        return self.expected_for(conversation.team, conversation.metadata)

    def expected_for(self, team: str | None, metadata: Mapping[str, Any]) -> Brand | None:
        """The brand of a conversation's team and sidecar fields (``company``, ``line``, ``queue``), before
        it is transcribed; None when any organisation will do."""
        company = metadata.get("company")
        if isinstance(company, str) and company.strip():
            wanted = company.strip().casefold().replace("ё", "е")
            for b in self.brands:
                if wanted == b.key.casefold() or any(wanted == n.casefold().replace("ё", "е") for n in b.names):
                    return b
            return Brand(company.strip(), (company.strip(),))
        if team is not None and team in self.teams:
            return self.brand(self.teams[team])
        for key in LINE_KEYS:
            line = metadata.get(key)
            if isinstance(line, str) and line in self.lines:
                return self.brand(self.lines[line])
        if any(b.key == DEFAULT_BRAND for b in self.brands):
            return self.brand(DEFAULT_BRAND)
        return None


def priming_terms(book: BrandBook | None, vocabulary: Sequence[str], team: str | None,
                  metadata: Mapping[str, Any]) -> list[str]:
    """Words to prime Whisper with for one conversation: the names of the brand it speaks for (not every
    brand: a long prompt of other brands garbles the greeting), then the rule set's ``vocabulary``."""
    expected = book.expected_for(team, metadata) if book is not None else None
    words = [*(expected.names if expected is not None else ()), *vocabulary]
    return list(dict.fromkeys(w.strip() for w in words if w.strip()))


def brand_book(company: Company, lemmatizer: LemmatizerLike) -> BrandBook:
    """The rule set's brands: ``company.names`` is the brand ``default``; ``brands`` add named ones."""
    brands: list[Brand] = []
    if company.names:
        brands.append(Brand(DEFAULT_BRAND, tuple(company.names)))
    teams: dict[str, str] = {}
    lines: dict[str, str] = {}
    for key, b in company.brands.items():
        brands.append(Brand(key, tuple(b.names)))
        teams.update(dict.fromkeys(b.teams, key))
        lines.update(dict.fromkeys(b.lines, key))
    org_types = tuple(
        tuple(lemmatizer.lemma(norm) for _, norm in split_normalized(noun)) for noun in company.org_types
    )
    return BrandBook(tuple(brands), teams, lines, tuple(t for t in org_types if t))


def _capitalised(token: Token) -> bool:
    surface = token.text.strip("«»\"'")
    return bool(surface) and surface[0].isupper()


def named_organisation(tokens: Sequence[Token], org_types: Sequence[tuple[str, ...]]) -> tuple[int, int, str] | None:
    """The first «<organisation noun> <Name>» in the tokens: (first, last, name heard), else None.

    The name is the run of up to three capitalised or quoted words right after the noun.
    """
    lemmas = [t.lemma for t in tokens]
    for i in range(len(tokens)):
        for noun in org_types:
            j = i + len(noun)
            if tuple(lemmas[i:j]) != noun or j >= len(tokens):
                continue
            k = j
            while k < len(tokens) and k - j < ORG_NAME_MAX_WORDS and (
                _capitalised(tokens[k]) or tokens[k].text.startswith(("«", '"'))
            ):
                k += 1
            if k > j:
                return i, k - 1, " ".join(t.text.strip("«»\",.!?") for t in tokens[j:k])
    return None


FUSED_BRAND_SCORE = 85.0  # rapidfuzz ratio of the joined words to the joined brand name
_FUSED_MIN_LETTERS = 6


@cache
def _latin() -> tuple[tuple[str, str], ...]:
    data = json.loads((resources.files("qa.rules") / "data" / "latin_to_cyrillic.json").read_text(encoding="utf-8"))
    pairs = {**data["multi"], **data["single"]}
    return tuple(sorted(pairs.items(), key=lambda kv: -len(kv[0])))


@cache
def _latin_pattern() -> tuple[re.Pattern[str], dict[str, str], frozenset[str]]:
    """One alternation of the Latin spellings, longest first (a regex tries its alternatives in order, so at each
    position it takes the same spelling a scan of :func:`_latin` in order would), their Russian letters, and the
    letters the spellings are made of."""
    pairs = _latin()
    letters = frozenset(ch for latin, _ in pairs for ch in latin)
    return re.compile("|".join(re.escape(latin) for latin, _ in pairs)), dict(pairs), letters


def cyrillic(text: str) -> str:
    """Latin letters read as Russian ones («telecom plus» → «телеком плус»); Cyrillic is kept as it is."""
    pattern, russian, _ = _latin_pattern()
    return pattern.sub(lambda m: russian[m.group()], text)


@cache
def _fused_targets(names: tuple[str, ...]) -> tuple[dict[str, str], frozenset[int]]:
    """The brand names :func:`fused_brand` looks for, joined and read as Cyrillic (once per brand, not per turn),
    and the lengths a run of words may have to reach :data:`FUSED_BRAND_SCORE` against one of them: rapidfuzz's
    ``ratio`` is at most ``200·min(a, b) / (a + b)`` (the Indel distance is at least the difference of the lengths),
    so far shorter or longer runs are not compared at all."""
    targets = {"".join(n.split()): n for n in (cyrillic(" ".join(t for _, t in split_normalized(name)))
                                               for name in names) if len(n.replace(" ", "")) >= _FUSED_MIN_LETTERS}
    longest = max((len(key) for key in targets), default=0)
    sizes = frozenset(size for size in range(_FUSED_MIN_LETTERS, 4 * longest + 1)
                      if any(200.0 * min(size, len(key)) / (size + len(key)) >= FUSED_BRAND_SCORE - 1e-9
                             for key in targets))
    return targets, sizes


def fused_brand(tokens: Sequence[Token], names: Sequence[str]) -> tuple[int, int, str] | None:
    """The first run of one to three words that, joined (and Latin read as Cyrillic), is one of ``names`` joined:
    Whisper writes a brand fused or in Latin («Телекомплюз», «Telecom Plus» for «Телеком Плюс»). Returns (first,
    last, words heard) or None."""
    targets, sizes = _fused_targets(tuple(names))
    if not targets:
        return None
    letters = _latin_pattern()[2]
    norms = [t.norm for t in tokens]
    read = [cyrillic(norm) for norm in norms]  # each word once; a run is its words' readings joined ...
    for i in range(len(tokens)):
        joined = raw = ""
        for n in (1, 2, 3):
            last = i + n - 1
            if last >= len(tokens):
                break
            if raw[-1:] in letters and norms[last][:1] in letters:
                joined = cyrillic(raw + norms[last])  # ... unless a Latin spelling may span the join
            else:
                joined += read[last]
            raw += norms[last]
            if len(joined) in sizes and close_keys(joined, targets, FUSED_BRAND_SCORE):
                return i, last, " ".join(t.text.strip("«»\",.!?") for t in tokens[i:last + 1])
    return None
