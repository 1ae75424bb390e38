"""Phrase matching over lemmatised tokens: exact lemma sequences with gaps, then a fuzzy fallback.

Phrases are compiled once per rule set with the same normaliser and lemmatiser as transcripts. All
phrases of a rule set share one index keyed by lemma, so a conversation is scanned once, whatever the
number of rules. The fuzzy fallback (rapidfuzz) only considers pattern words of ``FUZZY_MIN_LEN``+ letters
and words of about their length (:func:`similar_length`), and is cached per distinct token, so ASR slips
(«растаргнуть») cost one lookup after their first sight.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from qa.fuzzy import close_keys, partial_alignment
from qa.record_maker import maker
from qa.records import Token
from qa.text.analysis import LemmatizerLike
from qa.text.negation import default_cues
from qa.text.normalize import split_normalized

FUZZY_MIN_LEN = 5
FUZZY_LENGTH_SHARE = 4  # a fuzzy word may be longer or shorter than the phrase word by max(2, len // this) letters
PHRASE_WORD_FLOOR = 75.0  # word score that counts a word as seen for the phrase pass's prefilter
WILDCARD = "*"
_PHRASE_PART = re.compile(r'"[^"]+"|\S+')
_CACHE_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class PatternWord:
    """One word of a compiled phrase: a lemma key, an exact normalised form, or a wildcard."""

    key: str | None  # None = wildcard; exact forms are keyed "=form"
    display: str

    @property
    def exact(self) -> bool:
        return self.key is not None and self.key.startswith("=")


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled phrase and whose it is (``owner`` = rule id, ``role`` = match/unless/step:<id>/hold)."""

    owner: str
    role: str
    phrase: str
    words: tuple[PatternWord, ...]
    max_gap: int = 0
    ordered: bool = True
    fuzzy: int | None = 90
    threshold: float = 90.0  # lowest word score accepted (100 = exact only)
    required: frozenset[str] = frozenset()  # keys that must all occur in an utterance for a hit
    phrase_fuzzy: float | None = None  # second pass: character alignment of the whole phrase (multi-word only)
    text: str = ""  # the phrase's normalised words joined by spaces (what the second pass aligns)


@dataclass(frozen=True, slots=True)
class Hit:
    """A pattern found in an utterance: token span ``first..last`` (inclusive) and its weakest word score."""

    pattern: Pattern
    first: int
    last: int
    score: float
    via: str = "words"  # words | fuzzy_phrase (found only by the character-level second pass)

    @property
    def fuzzy(self) -> bool:
        return self.score < 100.0


_span = attrgetter("first", "last")  # hits in token order
_hit = maker(Hit)  # Hit(pattern, first, last, score, via), built slot by slot

# a word's pattern keys with their scores, the patterns of two or more words it may start (with their required
# keys), and the one-word patterns it is a hit of (with the hit's score)
_TokenEntry = tuple[dict[str, float], tuple[tuple[Pattern, frozenset[str]], ...], tuple[tuple[Pattern, float], ...]]


def compile_phrase(
    phrase: str,
    lemmatizer: LemmatizerLike,
    *,
    owner: str,
    role: str,
    max_gap: int = 0,
    ordered: bool = True,
    fuzzy: int | None = 90,
    phrase_fuzzy: int | None = None,
) -> Pattern:
    """Compile a phrase written in ordinary Russian. ``"quoted"`` words match their exact form only.

    ``phrase_fuzzy`` turns on the phrase-level second pass for phrases of two or more words without ``*``.
    """
    words: list[PatternWord] = []
    for part in _PHRASE_PART.findall(phrase):
        if part == WILDCARD:
            words.append(PatternWord(None, WILDCARD))
            continue
        exact = part.startswith('"') and part.endswith('"') and len(part) > 1
        for _surface, norm in split_normalized(part.strip('"')):
            key = "=" + norm if exact else lemmatizer.lemma(norm)
            words.append(PatternWord(key, norm))
    if not words or all(w.key is None for w in words):
        raise ValueError(f"phrase {phrase!r} has no words")
    if words[0].key is None or words[-1].key is None:
        raise ValueError(f"phrase {phrase!r} may not start or end with {WILDCARD}")
    required = frozenset(w.key for w in words if w.key is not None)
    threshold = 100.0 if fuzzy is None else float(fuzzy)
    multi = len(words) >= 2 and all(w.key is not None and not w.exact for w in words)  # quoted = exact only
    text = " ".join(w.display for w in words)
    second = float(phrase_fuzzy) if phrase_fuzzy is not None and multi else None
    return Pattern(owner, role, phrase, tuple(words), max_gap, ordered, fuzzy, threshold, required, second, text)


def similar_length(word: str, key: str) -> bool:
    """Whether a word may be a slip of a phrase word ``key``: no more than ``max(2, len(key) // 4)`` letters longer or
    shorter. ASR slips change letters; a word a third shorter is another word, even when its letters all occur in
    the key in order (the lemmatiser's guess «полоться» for a misheard «полись» scores 80 against «пожаловаться»)."""
    return abs(len(word) - len(key)) <= max(2, len(key) // FUZZY_LENGTH_SHARE)


class Matcher:
    """All patterns of a rule set in one index; finds every hit in a token sequence."""

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        self.patterns: tuple[Pattern, ...] = tuple(patterns)
        self._by_first: dict[str, list[Pattern]] = {}
        lemma_keys: set[str] = set()
        exact_keys: set[str] = set()
        fuzzy_floor = 101.0
        for p in self.patterns:
            anchors = [p.words[0]] if p.ordered else [w for w in p.words if w.key is not None]
            for w in dict.fromkeys(anchors):
                assert w.key is not None
                self._by_first.setdefault(w.key, []).append(p)
            for w in p.words:
                if w.key is None:
                    continue
                (exact_keys if w.exact else lemma_keys).add(w.key)
            if p.fuzzy is not None:
                fuzzy_floor = min(fuzzy_floor, float(p.fuzzy))
        self._lemma_keys = frozenset(lemma_keys)
        self._exact_keys = frozenset(exact_keys)
        self._fuzzy_keys = sorted(k for k in lemma_keys if len(k) >= FUZZY_MIN_LEN)
        self._fuzzy_floor = fuzzy_floor
        self._phrase_patterns = tuple(p for p in self.patterns if p.phrase_fuzzy is not None)
        if self._phrase_patterns:  # the phrase pass's prefilter wants slipped words seen, if only faintly
            self._fuzzy_floor = min(fuzzy_floor, PHRASE_WORD_FLOOR)
        self._phrase_by_key: dict[str, list[int]] = {}
        for index, p in enumerate(self._phrase_patterns):
            for key in p.required:
                self._phrase_by_key.setdefault(key, []).append(index)
        self._phrase_keys = frozenset(self._phrase_by_key)
        self._wanted: dict[frozenset[str], tuple[Pattern, ...]] = {}  # the phrase pass's candidates by keys seen
        self._cache: dict[tuple[str, str], _TokenEntry] = {}

    def token_keys(self, token: Token) -> dict[str, float]:
        """Pattern keys this token can stand for, with a score (100 = exact)."""
        return self._entry(token.norm, token.lemma)[0]

    def _entry(self, norm: str, lemma: str) -> _TokenEntry:
        """A word's keys and the patterns it may start (score at or above the pattern's threshold), cached."""
        cache_key = (norm, lemma)
        entry = self._cache.get(cache_key)
        if entry is not None:
            return entry
        found: dict[str, float] = {}
        for key in (lemma, norm):
            if key in self._lemma_keys:
                found[key] = 100.0
        if "=" + norm in self._exact_keys:
            found["=" + norm] = 100.0
        if self._fuzzy_keys and self._fuzzy_floor <= 100 and len(norm) >= FUZZY_MIN_LEN - 1:
            for query in {norm, lemma}:
                for key, score in close_keys(query, self._fuzzy_keys, self._fuzzy_floor):
                    if score > found.get(key, 0.0) and similar_length(query, key):
                        found[key] = float(score)
        starts: dict[int, tuple[Pattern, frozenset[str]]] = {}  # a pattern tried twice at a word finds the same
        singles: dict[int, tuple[Pattern, float]] = {}  # a one-word pattern is a hit wherever it starts
        for key, score in found.items():
            for pattern in self._by_first.get(key, ()):
                if score < pattern.threshold or id(pattern) in starts or id(pattern) in singles:
                    continue
                if len(pattern.words) == 1:
                    singles[id(pattern)] = (pattern, score)
                else:
                    starts[id(pattern)] = (pattern, pattern.required)
        entry = (found, tuple(starts.values()), tuple(singles.values()))
        if len(self._cache) > _CACHE_LIMIT:
            self._cache.clear()
        self._cache[cache_key] = entry
        return entry

    def find(self, tokens: Sequence[Token]) -> list[Hit]:
        """Every pattern hit in one utterance's tokens, in token order."""
        cached, entry = self._cache.get, self._entry
        entries = [cached((t.norm, t.lemma)) or entry(t.norm, t.lemma) for t in tokens]
        keys = [e[0] for e in entries]
        present: set[str] = set().union(*keys)
        hits: list[Hit] = []
        for i, (_, starts, singles) in enumerate(entries):
            for pattern, score in singles:
                hits.append(_hit(pattern, i, i, score, "words"))
            for pattern, required in starts:
                if required <= present:
                    hit = _match_ordered(pattern, keys, i) if pattern.ordered else _match_unordered(pattern, keys, i)
                    if hit is not None:
                        hits.append(hit)
        if self._phrase_patterns and not present.isdisjoint(self._phrase_keys):
            hits += self._phrase_pass(tokens, hits, present)
        hits.sort(key=_span)
        return hits

    def _wanted_for(self, relevant: frozenset[str]) -> tuple[Pattern, ...]:
        """The phrases with at least half of their words among ``relevant`` keys, in rule-set order (cached)."""
        seen: dict[int, int] = {}  # phrase pattern index -> how many of its words are there
        for key in relevant:
            for index in self._phrase_by_key[key]:
                seen[index] = seen.get(index, 0) + 1
        patterns = self._phrase_patterns
        wanted = tuple(patterns[i] for i in sorted(seen) if 2 * seen[i] >= len(patterns[i].required))
        if len(self._wanted) > _CACHE_LIMIT:
            self._wanted.clear()
        self._wanted[relevant] = wanted
        return wanted

    def _phrase_pass(self, tokens: Sequence[Token], found: list[Hit], present: set[str]) -> list[Hit]:
        """Phrases the word pass missed, aligned character by character over the normalised utterance.

        Catches slips that split or merge words («расстаргнуть до говоры», «ниже не могу помочь»); the hit's
        score is rapidfuzz's partial-ratio alignment score and its ``via`` is ``fuzzy_phrase``. Only phrases
        with at least half of their words seen by the word pass (exactly or fuzzily) are aligned.
        """
        relevant = frozenset(present & self._phrase_keys)
        wanted = self._wanted.get(relevant)
        if wanted is None:
            wanted = self._wanted_for(relevant)
        if not wanted:
            return []
        have = {id(h.pattern) for h in found}
        candidates = [p for p in wanted if id(p) not in have]
        if not candidates:
            return []
        text = " ".join([tok.norm for tok in tokens])
        extra: list[Hit] = []
        owner: list[int] = []
        for pattern in candidates:
            if len(text) < len(pattern.text) * 0.7:
                continue
            aligned = partial_alignment(pattern.text, text, pattern.phrase_fuzzy)
            if aligned is None or aligned.dest_end <= aligned.dest_start:
                continue
            if not owner:
                for i, tok in enumerate(tokens):
                    owner.extend([i] * (len(tok.norm) + 1))  # the word and the space after it
            lo, hi = aligned.dest_start, aligned.dest_end - 1
            while lo < hi and text[lo] == " ":
                lo += 1
            while hi > lo and text[hi] == " ":
                hi -= 1
            first, last = owner[lo], owner[hi]
            if _negated(pattern.text.split()) != _negated([t.norm for t in tokens[first : last + 1]]):
                continue  # an alignment may not add or drop a negation («чем могу помочь» ≠ «ничем не могу помочь»)
            extra.append(Hit(pattern, first, last, round(float(aligned.score), 1), "fuzzy_phrase"))
        return extra


def _negated(words: Sequence[str]) -> bool:
    negators = default_cues().negators_before
    return any(w in negators for w in words)


def _word_score(word: PatternWord, token_keys: dict[str, float], threshold: float) -> float | None:
    if word.key is None:
        return 100.0
    score = token_keys.get(word.key)
    return score if score is not None and score >= threshold else None


def _match_ordered(pattern: Pattern, keys: list[dict[str, float]], start: int) -> Hit | None:
    threshold = pattern.threshold
    words = pattern.words
    worst = keys[start].get(words[0].key)  # type: ignore[arg-type]  # a phrase never starts with *
    if worst is None or worst < threshold:
        return None
    pos, end, reach = start, len(keys), 2 + pattern.max_gap
    for word in words[1:]:
        key = word.key
        if key is None:
            pos += 1
            if pos >= end:
                return None
            continue
        for j in range(pos + 1, min(end, pos + reach)):
            score = keys[j].get(key)
            if score is not None and score >= threshold:
                pos = j
                if score < worst:
                    worst = score
                break
        else:
            return None
    return _hit(pattern, start, pos, worst, "words")


def _match_unordered(pattern: Pattern, keys: list[dict[str, float]], start: int) -> Hit | None:
    threshold = pattern.threshold
    span = len(pattern.words) + pattern.max_gap
    window = range(start, min(len(keys), start + span))
    used: set[int] = set()
    worst, last = 100.0, start
    for word in pattern.words:
        if word.key is None:
            continue
        for j in window:
            if j in used:
                continue
            score = _word_score(word, keys[j], threshold)
            if score is not None:
                used.add(j)
                worst, last = min(worst, score), max(last, j)
                break
        else:
            return None
    if start not in used:
        return None
    return Hit(pattern, start, last, worst)
