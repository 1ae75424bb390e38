"""Transcript search over the index (``search_sentences``): a parsed query and filters in, one page of matching
sentences and their counts out.

A query's words become term ids through the lexicon (``search_terms``; in fuzzy mode a word also stands for the
stored lemmas close to it), then one SQL predicate over each sentence's list of term ids. Every value that comes
from the user — term ids, filter values, window sizes, page bounds — is a bound parameter; the SQL text is built only
from the query's shape (how many words, which operators), never from its words.

A search reads the date range it is given (rows are stored in date order, so the rest is skipped), filters the
conversation columns there, and checks the term lists of what is left; no full scan of the store per query unless
the search spans all of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qa.fuzzy import close_keys
from qa.store.base import Store
from qa.text.search_query import Atom, Group, Part, QueryWord, SearchQuery, language

SPEAKERS = ("operator", "client")
MAX_PAGE = 200


@dataclass(frozen=True)
class SearchFilters:
    """What a search is narrowed to. ``None`` means no filter.

    ``speaker``: operator or client (turns of an unknown speaker, mono calls, count for both, as for rules);
    ``rule`` with ``rule_hit``: only sentences a current finding of that rule (``any``: of any rule) covers
    (``True``) or does not cover (``False``).
    """

    since: datetime | None = None
    until: datetime | None = None
    team: str | None = None
    operator: str | None = None
    channel: str | None = None
    speaker: str | None = None
    rule: str | None = None
    rule_hit: bool | None = None


@dataclass(frozen=True)
class SearchHit:
    """One matching sentence (an utterance): where it is, who said it, its text, and which of its tokens matched."""

    conversation_id: str
    utterance_idx: int
    dated_at: datetime
    team: str | None
    operator_id: str | None
    channel: str
    speaker: str
    start_s: float
    seek_s: float  # start of the first matching word (word timings where the call has them)
    text: str
    matched: tuple[int, ...]  # positions of the matching tokens (0-based)
    rules: tuple[str, ...] = ()  # rules with a current finding on this sentence


@dataclass(frozen=True)
class SearchPage:
    """A page of hits, newest first, with how many sentences and conversations matched in all."""

    hits: list[SearchHit]
    total: int
    conversations: int
    limit: int
    offset: int
    variants: dict[str, list[str]] = field(default_factory=dict)  # fuzzy mode: lemma -> stored lemmas it stood for
    unknown: list[str] = field(default_factory=list)  # query lemmas never seen in any transcript


class _Terms:
    """Query lemmas resolved to term ids (with their fuzzy variants)."""

    def __init__(self, con: Any, query: SearchQuery) -> None:
        lemmas = sorted({w.lemma for a in _atoms(query.root) for w in a.words})
        # one placeholder per lemma: a constant list is pushed into the scan (Parquet statistics on a lake)
        rows = con.execute("SELECT lemma, term_id FROM search_terms WHERE lemma IN "
                           f"({', '.join(['?::VARCHAR'] * len(lemmas))})", lemmas).fetchall() if lemmas else []
        self.ids: dict[str, set[int]] = {lemma: set() for lemma in lemmas}
        for lemma, term_id in rows:
            self.ids[lemma].add(int(term_id))
        self.variants: dict[str, list[str]] = {}
        if query.fuzzy:
            self._widen(con, [w for a in query.atoms for w in a.words])  # excluded words are taken as typed

    def _widen(self, con: Any, words: Sequence[QueryWord]) -> None:
        lang = language()
        for word in words:
            lemma = word.lemma
            if lemma in self.variants or len(lemma) < lang.fuzzy_min_len or word.stop:
                continue
            low, high = int(len(lemma) * 0.7), int(len(lemma) * 1.3) + 1
            # rapidfuzz's ratio counts a changed letter twice (indel), so a lemma within the cut-off is within this
            # many Levenshtein edits: DuckDB narrows the lexicon, rapidfuzz scores the few left
            edits = int((100 - lang.fuzzy_cutoff) / 100 * (len(lemma) + high))
            stored = dict(con.execute(
                "SELECT lemma, term_id FROM search_terms WHERE length(lemma) BETWEEN ? AND ? AND "
                "levenshtein(lemma, ?) <= ?", [low, high, lemma, edits]).fetchall())
            close = close_keys(lemma, [k for k in stored if k != lemma], lang.fuzzy_cutoff)
            close.sort(key=lambda pair: (-pair[1], pair[0]))
            picked = [key for key, _ in close[:lang.fuzzy_max_variants]]
            self.variants[lemma] = picked
            self.ids[lemma] |= {int(stored[key]) for key in picked}

    def of(self, word: QueryWord) -> list[int]:
        return sorted(self.ids.get(word.lemma, ()))


def _atoms(part: Part) -> list[Atom]:
    if isinstance(part, Atom):
        return [part]
    return [a for p in (*part.parts, *part.excluded) for a in _atoms(p)]


def _any_of(terms_sql: str, ids: Sequence[int], params: list[Any]) -> str:
    """``terms_sql`` (a list of term ids) holds one of ``ids``: ORed ``list_contains`` (several times faster than
    ``list_has_any`` in DuckDB 1.5), ``FALSE`` for a word never stored."""
    if not ids:
        return "FALSE"
    params += list(ids)
    checks = [f"list_contains({terms_sql}, ?::INTEGER)"] * len(ids)
    return checks[0] if len(checks) == 1 else "(" + " OR ".join(checks) + ")"


def _contains(terms: _Terms, word: QueryWord, params: list[Any]) -> str:
    return _any_of("s.terms", terms.of(word), params)


def _atom_sql(atom: Atom, terms: _Terms, params: list[Any]) -> str:
    """A sentence predicate for one atom: each word present, then (two or more words) their arrangement. The
    parameters are appended in the order their placeholders stand in the text."""
    present = [_contains(terms, w, params) for w in dict.fromkeys(atom.words)]
    if len(atom.words) == 1:
        return present[0]
    if atom.slop is None:  # side by side, in order: some position i where word j stands at i + j
        params.append(len(atom.words))
        checks = []
        for j, word in enumerate(atom.words):
            params += [terms.of(word), j]
            checks.append("list_contains(?::INTEGER[], s.terms[i + ?::INTEGER])")
        arranged = (f"list_bool_or(list_transform(range(1, len(s.terms) - ?::INTEGER + 2), lambda i: "
                    f"{' AND '.join(checks)}))")
    else:  # within len + slop words of each other, any order: some window of that many words holding each
        width = len(atom.words) + atom.slop - 1
        checks = []
        for word in atom.words:
            ids = terms.of(word)
            for term_id in ids:
                params += [width, term_id]
            checks.append("(" + " OR ".join(["list_contains(s.terms[i : i + ?::INTEGER], ?::INTEGER)"] * len(ids))
                          + ")" if ids else "FALSE")
        arranged = f"list_bool_or(list_transform(range(1, len(s.terms) + 1), lambda i: {' AND '.join(checks)}))"
    return "(" + " AND ".join([*present, arranged]) + ")"


def _part_sql(part: Part, terms: _Terms, params: list[Any]) -> str:
    if isinstance(part, Atom):
        return _atom_sql(part, terms, params)
    assert isinstance(part, Group)
    inner = [_part_sql(p, terms, params) for p in part.parts]
    if part.op == "any":
        return "(" + " OR ".join(inner) + ")"
    inner += [f"NOT {_part_sql(p, terms, params)}" for p in part.excluded]
    return "(" + " AND ".join(inner) + ")"


def _filters_sql(f: SearchFilters, alias: str = "s") -> tuple[list[str], list[Any]]:
    """Clauses over the conversation columns (only those set, so the scan gets plain comparisons)."""
    a = alias
    checks: list[tuple[Any, str]] = [
        (f.since, f"{a}.dated_at >= ?::TIMESTAMPTZ"),
        (f.until, f"{a}.dated_at < ?::TIMESTAMPTZ"),
        (f.team, f"{a}.team = ?::VARCHAR"),
        (f.operator, f"{a}.operator_id = ?::VARCHAR"),
        (f.channel, f"{a}.channel = ?::VARCHAR"),
    ]
    clauses = [clause for value, clause in checks if value is not None]
    params = [value for value, _ in checks if value is not None]
    if f.speaker is not None:
        clauses.append(f"{a}.speaker IN (?::VARCHAR, 'unknown')")
        params.append(f.speaker)
    return clauses, params


def _conversation_filters(f: SearchFilters) -> SearchFilters:
    """``f`` less what only a sentence has (speaker, rule): what narrows the current findings as well."""
    return SearchFilters(since=f.since, until=f.until, team=f.team, operator=f.operator, channel=f.channel)


def _rule_sql(f: SearchFilters) -> tuple[str | None, list[Any]]:
    """``[NOT] EXISTS`` a current finding of the rule on the sentence (narrowed like the sentences)."""
    if f.rule_hit is None:
        return None, []
    clauses, params = _filters_sql(_conversation_filters(f), alias="f")
    clauses = ["f.conversation_id = s.conversation_id", "f.utterance_idx = s.utterance_idx", *clauses]
    if f.rule not in (None, "any"):
        clauses.append("f.rule_id = ?::VARCHAR")
        params.append(f.rule)
    sql = f"EXISTS (SELECT 1 FROM current_findings f WHERE {' AND '.join(clauses)})"
    return (sql if f.rule_hit else f"NOT {sql}"), params


_ORDER = "dated_at DESC, conversation_id, utterance_idx"
_COLUMNS = ("conversation_id", "utterance_idx", "dated_at", "team", "operator_id", "channel", "speaker", "start_s",
            "text", "terms", "starts")

# One statement per search: the matches found once (narrow keys), their counts, the page's keys, and the page's
# sentences and rules joined back on those keys. The joins' build side is the page (at most MAX_PAGE rows), so
# DuckDB pushes its key ranges into both scans at run time (the page's dates skip every other row group of the
# sentences and of the current findings, which carry the same date) instead of a second round trip. Both scans also
# get the search's own conversation filters (shown_where, ruled_where): the page lies inside them, and they prune
# whatever order the rows are stored in (a lake keeps each week's rows by team: the page's dates alone would read
# every team's row groups of those weeks).
_SEARCH = """
    WITH m AS MATERIALIZED (
        SELECT s.dated_at, s.conversation_id, s.utterance_idx FROM search_sentences s WHERE {where}
    ), page AS MATERIALIZED (
        SELECT * FROM m ORDER BY {order} LIMIT ?::BIGINT OFFSET ?::BIGINT
    ), shown AS (
        SELECT {columns} FROM search_sentences s JOIN page p ON s.dated_at = p.dated_at
            AND s.conversation_id = p.conversation_id AND s.utterance_idx = p.utterance_idx
        WHERE {shown_where}
    ), ruled AS (
        SELECT f.conversation_id, f.utterance_idx, list(DISTINCT f.rule_id ORDER BY f.rule_id) AS rules
        FROM current_findings f JOIN page p ON f.dated_at = p.dated_at AND f.conversation_id = p.conversation_id
            AND f.utterance_idx = p.utterance_idx
        WHERE {ruled_where}
        GROUP BY ALL
    )
    SELECT (SELECT count(*) FROM m), (SELECT count(DISTINCT conversation_id) FROM m),
           (SELECT list(struct_pack({packed}, rules := r.rules) ORDER BY {order_s})
            FROM shown s LEFT JOIN ruled r ON r.conversation_id = s.conversation_id
                AND r.utterance_idx = s.utterance_idx)
"""


def search(store: Store, query: SearchQuery, filters: SearchFilters = SearchFilters(), limit: int = 50,
           offset: int = 0) -> SearchPage:
    """One page of the sentences matching ``query`` under ``filters``, newest first, with the totals.

    On one read-only connection (one snapshot): the lexicon look-up, then one statement that finds the matches
    once and gives their counts and the page's sentences with the rules on them.
    """
    if filters.speaker not in (None, *SPEAKERS):
        raise ValueError(f"speaker: one of {', '.join(SPEAKERS)}, not {filters.speaker!r}")
    if filters.channel not in (None, "call", "chat"):
        raise ValueError(f"channel: call or chat, not {filters.channel!r}")
    limit = max(1, min(int(limit), MAX_PAGE))
    offset = max(0, int(offset))
    with store.connect(read_only=True) as con:
        terms = _Terms(con, query)
        clauses, params = _filters_sql(filters)
        match_params: list[Any] = []
        match = _part_sql(query.root, terms, match_params)
        rule, rule_params = _rule_sql(filters)
        where = " AND ".join([*clauses, match, *([rule] if rule else [])])
        ruled, ruled_params = _filters_sql(_conversation_filters(filters), alias="f")
        sql = _SEARCH.format(where=where, order=_ORDER, columns=", ".join(f"s.{c}" for c in _COLUMNS),
                             packed=", ".join(f"s.{c}" for c in _COLUMNS),
                             order_s="s.dated_at DESC, s.conversation_id, s.utterance_idx",
                             shown_where=" AND ".join(clauses or ["TRUE"]),
                             ruled_where=" AND ".join(ruled or ["TRUE"]))
        total, conversations, rows = con.execute(sql, [*params, *match_params, *rule_params, limit, offset,
                                                       *params, *ruled_params]).fetchone()
    hits = _hits(rows or [], query, terms)
    unknown = [lemma for lemma, ids in terms.ids.items() if not ids]
    return SearchPage(hits, int(total), int(conversations), limit, offset, terms.variants, unknown)


def _hits(rows: list[dict[str, Any]], query: SearchQuery, terms: _Terms) -> list[SearchHit]:
    """The page's sentences as hits, with their matching tokens (in page order)."""
    positive = {i for a in query.atoms for w in a.words for i in terms.of(w)}
    hits = []
    for row in rows:
        term_list, starts, start = row["terms"], row["starts"], row["start_s"]
        matched = tuple(i for i, t in enumerate(term_list) if t in positive)
        seek = float(starts[matched[0]]) if matched and starts and starts[matched[0]] is not None else float(start)
        hits.append(SearchHit(row["conversation_id"], row["utterance_idx"], row["dated_at"], row["team"],
                              row["operator_id"], row["channel"], row["speaker"], float(start), max(seek, 0.0),
                              row["text"], matched, tuple(row["rules"] or ())))
    return hits


def sentences(store: Store, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
    """Indexed sentences by ``(conversation_id, utterance_idx)``: text, speaker, channel, team, start (those not
    indexed are left out)."""
    wanted = set(keys)
    if not wanted:
        return {}
    ids = sorted({cid for cid, _ in wanted})
    cols, rows = store.query(
        "SELECT conversation_id, utterance_idx, text, speaker, channel, team, operator_id, start_s "
        f"FROM search_sentences WHERE conversation_id IN ({', '.join('?' * len(ids))})", ids)
    out = {}
    for row in rows:
        record = dict(zip(cols, row, strict=True))
        key = (record["conversation_id"], record["utterance_idx"])
        if key in wanted:
            out[key] = record
    return out
