"""The transcript search index (``search_terms``, ``search_sentences``), kept at write time inside each write's
transaction for the conversations it touched, as :mod:`qa.store.current` keeps the current results.

Every write path rewrites the search rows of what it wrote, after the current results: the nightly flow's
:meth:`~qa.store.base.Store.write_results` and a rescore's :meth:`~qa.store.base.Store.write_rescored` (for the
conversations whose date is their scoring time, which moved) and :func:`qa.store.rescore.record_chunk` (fresh
tokens) from the tokens they hold (:func:`index_conversations`), :func:`qa.store.retention.purge` (transcripts
removed) from the base tables (:func:`refresh_search`). Migration 008 runs :func:`refresh_search` for every
conversation of an existing database; both give the same rows (``tests/test_search.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb
import pyarrow as pa

from qa.records import Conversation
from qa.store.rows import insert_rows

# The utterances of `{ids}` conversations with their tokens' lemmas and start times as lists: from the stored tokens,
# else (utterances stored before tokens were kept) from the lemmas column, every word at the utterance's start.
_SOURCE = """
    SELECT conversation_id, idx, speaker, start_s, text, json_extract_string(tokens, '$[*][2]') AS lemmas,
           CAST(json_extract(tokens, '$[*][3]') AS FLOAT[]) AS starts
    FROM utterances WHERE tokens IS NOT NULL{and_ids}
    UNION ALL
    SELECT conversation_id, idx, speaker, start_s, text, string_split(lemmas, ' '),
           list_transform(string_split(lemmas, ' '), lambda w: start_s::FLOAT)
    FROM utterances WHERE tokens IS NULL AND lemmas <> ''{and_ids}
"""

_NEW_TERMS = """
INSERT INTO search_terms
WITH src AS ({source})
SELECT (SELECT coalesce(max(term_id), 0) FROM search_terms) + row_number() OVER (ORDER BY lemma), lemma
FROM (SELECT DISTINCT unnest(lemmas) AS lemma FROM src) n
WHERE lemma IS NOT NULL AND lemma <> '' AND NOT EXISTS (SELECT 1 FROM search_terms t WHERE t.lemma = n.lemma)
"""

_SENTENCES = """
INSERT INTO search_sentences
WITH src AS MATERIALIZED ({source}), toks AS (
    SELECT conversation_id, idx, unnest(lemmas) AS lemma, unnest(starts) AS start, generate_subscripts(lemmas, 1) AS pos
    FROM src
), listed AS (
    SELECT k.conversation_id, k.idx, list(t.term_id ORDER BY k.pos) AS terms,
           list(coalesce(k.start, 0.0)::FLOAT ORDER BY k.pos) AS starts
    FROM toks k JOIN search_terms t ON t.lemma = k.lemma
    GROUP BY k.conversation_id, k.idx
)
SELECT s.dated_at, s.team, s.operator_id, s.channel, u.speaker, u.conversation_id, u.idx, u.start_s, u.text,
       l.terms, l.starts
FROM listed l
JOIN src u ON u.conversation_id = l.conversation_id AND u.idx = l.idx
JOIN current_scores s ON s.conversation_id = l.conversation_id
ORDER BY s.dated_at, u.conversation_id, u.idx
"""


BATCH = 20_000  # conversations per statement when the whole store is indexed (bounds memory)


def refresh_search(con: duckdb.DuckDBPyConnection, ids: Sequence[str] | None = None, batch: int = BATCH) -> None:
    """Rewrite the search rows of these conversations (all when ``None``) from their utterances and current score:
    new lemmas into the lexicon, then DELETE and INSERT, inside the caller's transaction. Migration 008 runs it for
    every conversation; a hand edit of utterances, conversations or scores must call it too.

    All conversations are indexed ``batch`` at a time in date order (each batch inserted in date order), so the rows
    stay in date order and memory stays bounded on a store of millions.
    """
    if ids is not None and not ids:
        return
    if ids is None:
        con.execute(_NEW_TERMS.format(source=_SOURCE.format(and_ids="")))
        con.execute("DELETE FROM search_sentences")
        order = [r[0] for r in con.execute("SELECT conversation_id FROM current_scores "
                                           "ORDER BY dated_at, conversation_id").fetchall()]
        for start in range(0, len(order), batch):
            _insert_sentences(con, order[start:start + batch])
        return
    _with_ids(con, ids, lambda and_ids: con.execute(_NEW_TERMS.format(source=_SOURCE.format(and_ids=and_ids))))
    _with_ids(con, ids, lambda and_ids: con.execute("DELETE FROM search_sentences WHERE" + and_ids[4:]))
    _insert_sentences(con, ids)


def _with_ids(con: duckdb.DuckDBPyConnection, ids: Sequence[str], run: Callable[[str], object]) -> None:
    """``run`` given the SQL condition `` AND conversation_id IN (...)`` over ``ids`` (registered while it runs)."""
    con.register("_search_ids", pa.table({"conversation_id": pa.array(list(ids), pa.string())}))
    try:
        run(" AND conversation_id IN (SELECT conversation_id FROM _search_ids)")
    finally:
        con.unregister("_search_ids")


def _insert_sentences(con: duckdb.DuckDBPyConnection, ids: Sequence[str]) -> None:
    _with_ids(con, ids, lambda and_ids: con.execute(_SENTENCES.format(source=_SOURCE.format(and_ids=and_ids))))


def undated_ids(con: duckdb.DuckDBPyConnection, ids: Sequence[str]) -> list[str]:
    """Those of ``ids`` whose conversation has no start time: their date is their scoring time, which a rescore
    moves, so their search rows are rewritten with their scores."""
    if not ids:
        return []
    con.register("_undated_ids", pa.table({"conversation_id": pa.array(list(ids), pa.string())}))
    try:
        return [r[0] for r in con.execute("SELECT conversation_id FROM conversations WHERE started_at IS NULL AND "
                                          "conversation_id IN (SELECT conversation_id FROM _undated_ids)").fetchall()]
    finally:
        con.unregister("_undated_ids")


def _term_ids(con: duckdb.DuckDBPyConnection, lemmas: Sequence[str]) -> dict[str, int]:
    """The lexicon ids of ``lemmas``, new lemmas given the next ids (in lemma order, as the SQL path gives them)."""
    known = {lemma: int(term_id) for lemma, term_id in con.execute(
        "SELECT lemma, term_id FROM search_terms WHERE lemma IN (SELECT unnest(?::VARCHAR[]))", [list(lemmas)]
    ).fetchall()}
    new = sorted(set(lemmas) - set(known))
    if new:
        top = int(con.execute("SELECT coalesce(max(term_id), 0) FROM search_terms").fetchone()[0])
        fresh = {lemma: top + n for n, lemma in enumerate(new, start=1)}
        insert_rows(con, "search_terms", [{"term_id": term_id, "lemma": lemma} for lemma, term_id in fresh.items()])
        known.update(fresh)
    return known


def index_conversations(con: duckdb.DuckDBPyConnection, conversations: Sequence[Conversation],
                        fresh: bool = False) -> None:
    """Rewrite the search rows of these analysed conversations from the tokens they hold (what the write stores
    in ``utterances``), inside the caller's transaction, after their current score is written. ``fresh``: none of
    them was stored before this transaction, so none has search rows to delete."""
    if not conversations:
        return
    lemmas = sorted({t.lemma for c in conversations for u in c.utterances for t in u.tokens if t.lemma})
    ids = _term_ids(con, lemmas) if lemmas else {}
    columns: dict[str, list] = {k: [] for k in ("conversation_id", "utterance_idx", "speaker", "start_s", "text",
                                                "terms", "starts")}
    for c in conversations:
        for i, u in enumerate(c.utterances):
            tokens = [t for t in u.tokens if t.lemma]
            if not tokens:
                continue
            for key, value in (("conversation_id", c.conversation_id), ("utterance_idx", i), ("speaker", u.speaker),
                               ("start_s", u.start), ("text", u.text), ("terms", [ids[t.lemma] for t in tokens]),
                               ("starts", [t.start for t in tokens])):
                columns[key].append(value)
    if not fresh:
        con.register("_search_ids", pa.table({"conversation_id": pa.array([c.conversation_id for c in conversations],
                                                                          pa.string())}))
        try:
            con.execute("DELETE FROM search_sentences WHERE conversation_id IN (SELECT conversation_id FROM "
                        "_search_ids)")
        finally:
            con.unregister("_search_ids")
    if not columns["conversation_id"]:
        return
    con.register("_search_rows", pa.table({
        **{k: columns[k] for k in ("conversation_id", "speaker", "text")},
        "utterance_idx": pa.array(columns["utterance_idx"], pa.int32()),
        "start_s": pa.array(columns["start_s"], pa.float64()),
        "terms": pa.array(columns["terms"], pa.list_(pa.int32())),
        "starts": pa.array(columns["starts"], pa.list_(pa.float32())),
    }))
    try:
        con.execute(
            "INSERT INTO search_sentences SELECT s.dated_at, s.team, s.operator_id, s.channel, r.speaker, "
            "r.conversation_id, r.utterance_idx, r.start_s, r.text, r.terms, r.starts FROM _search_rows r "
            "JOIN current_scores s ON s.conversation_id = r.conversation_id "
            "ORDER BY s.dated_at, r.conversation_id, r.utterance_idx")
    finally:
        con.unregister("_search_rows")
