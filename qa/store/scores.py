"""Scores and findings of scored conversations as the store writes them: built as columns once (where they are
scored, possibly another process), written in bulk by key, with the current results of their conversations kept
incrementally from the rows just written.

:class:`ScoredRows` is what a rescore page hands from its scoring worker to the writer: plain columns (cheap to
pickle), the conversations whose tokens were made afresh (their tokens and search rows are rewritten) and those
dated by their scoring time (their search rows move with it). :func:`write_scored_in` writes it inside the caller's
transaction:

- the earlier rows of the same rule set version go first, by a predicate the store's id order prunes
  (``ruleset_version = ? AND conversation_id BETWEEN first AND last``, then the page's ids);
- the new rows are appended (one Arrow insert per table);
- ``current_scores`` and ``current_findings`` of these conversations are rebuilt from the rows just written, not
  from every version stored: rows scored now are the most recently scored ones, which is what the current results
  choose (:mod:`qa.store.current`, the same statements over the page's rows); where a stored score is as recent
  (clocks), the full rebuild of these conversations runs instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pyarrow as pa

from qa.records import Conversation, ScoredConversation
from qa.store.current import carry_reviews, current_from_page, refresh_current, reviewed_now
from qa.store.rows import score_rows, tokens_json
from qa.store.search_index import index_conversations

_FINDINGS_SCHEMA = pa.schema([
    ("conversation_id", pa.string()), ("ruleset_version", pa.string()), ("finding_idx", pa.int32()),
    ("rule_id", pa.string()), ("category", pa.string()), ("kind", pa.string()), ("severity", pa.string()),
    ("speaker", pa.string()), ("start_s", pa.float64()), ("end_s", pa.float64()), ("quote", pa.string()),
    ("message", pa.string()), ("utterance_idx", pa.int32()), ("details", pa.string()),
])  # the columns of ``findings``, in its order
_SCORES_SCHEMA = pa.schema([
    ("conversation_id", pa.string()), ("ruleset_version", pa.string()), ("total", pa.float64()),
    ("passed", pa.bool_()), ("flagged", pa.bool_()), ("escalation", pa.bool_()), ("auto_failed", pa.bool_()),
    ("reasons", pa.string()), ("details", pa.string()), ("scored_at", pa.timestamp("us", tz="UTC")),
    ("run_id", pa.string()),
])  # the columns of ``scores``, in its order
_WRITER_ADDS = ("scored_at", "run_id")
_SCORE_COLUMNS = tuple(n for n in _SCORES_SCHEMA.names if n not in _WRITER_ADDS)  # what scoring gives


@dataclass
class ScoredRows:
    """The rows a batch of scored conversations writes, as columns, and what else the writer needs of them."""

    ids: list[str] = field(default_factory=list)  # in the order scored (a page's: id order)
    findings: dict[str, list] = field(default_factory=lambda: {n: [] for n in _FINDINGS_SCHEMA.names})
    scores: dict[str, list] = field(default_factory=lambda: {n: [] for n in _SCORE_COLUMNS})
    tokens: dict[str, list] = field(default_factory=lambda: {k: [] for k in ("conversation_id", "idx", "tokens",
                                                                             "lemmas")})
    indexed: list[Conversation] = field(default_factory=list)  # their search rows are rewritten from their tokens
    flagged: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    def extend(self, other: ScoredRows) -> None:
        """Append the rows of ``other`` (the next conversations of the same page, scored elsewhere)."""
        self.ids += other.ids
        for mine, theirs in ((self.findings, other.findings), (self.scores, other.scores),
                             (self.tokens, other.tokens)):
            for name, column in mine.items():
                column += theirs[name]
        self.indexed += other.indexed
        self.flagged += other.flagged


def scored_rows(scored: Sequence[ScoredConversation], refreshed: Sequence[Conversation] = ()) -> ScoredRows:
    """The rows of ``scored``; ``refreshed``: conversations analysed afresh (their tokens are stored and their
    search rows rewritten). A scored conversation without a start time is dated by its scoring time, so its search
    rows are rewritten too. Nothing else of a conversation is kept (its utterances stay where it was scored)."""
    out = ScoredRows()
    for s in scored:
        out.ids.append(s.conversation.conversation_id)
        findings, [score] = score_rows(s, "", None)  # type: ignore[arg-type]  # run and time: the writer's
        for row in findings:
            for name, column in out.findings.items():
                column.append(row[name])
        for name, column in out.scores.items():
            column.append(score[name])
        out.flagged += bool(s.score.flagged)
    for c in refreshed:
        for i, u in enumerate(c.utterances):
            for key, value in (("conversation_id", c.conversation_id), ("idx", i), ("tokens", tokens_json(u.tokens)),
                               ("lemmas", u.lemmas)):
                out.tokens[key].append(value)
    fresh = {c.conversation_id for c in refreshed}
    out.indexed = [*refreshed, *(s.conversation for s in scored
                                 if s.conversation.started_at is None and s.conversation.conversation_id not in fresh)]
    return out


def write_scored_in(con: duckdb.DuckDBPyConnection, run_id: str, rows: ScoredRows, now: datetime,
                    analysis_version: str | None = None) -> None:
    """Write ``rows`` inside the caller's transaction: replace the same versions' findings and scores, rewrite the
    current results of these conversations, store fresh tokens (tagged ``analysis_version``), rewrite the search
    rows of the conversations that need it, and carry verdicts over to the findings that replace theirs."""
    before = reviewed_now(con, rows.ids) if rows.ids else []
    if rows.ids:
        replace_scores(con, run_id, rows, now)
    if rows.tokens["conversation_id"]:
        _store_tokens(con, rows, analysis_version)
    index_conversations(con, rows.indexed)
    carry_reviews(con, before)


def replace_scores(con: duckdb.DuckDBPyConnection, run_id: str, rows: ScoredRows, now: datetime,
                   fresh: bool = False) -> None:
    """The same versions' findings and scores of these conversations replaced by ``rows``, and their current
    results rewritten (from these rows where they are the latest scored). ``fresh``: none of these conversations
    is stored (the caller read ``conversations`` in this transaction), so none has rows to delete."""
    ids = rows.ids
    n = len(ids)
    findings = pa.table({name: pa.array(rows.findings[name], _FINDINGS_SCHEMA.field(name).type)
                         for name in _FINDINGS_SCHEMA.names}, schema=_FINDINGS_SCHEMA)
    scores = pa.table({**{name: pa.array(rows.scores[name], _SCORES_SCHEMA.field(name).type)
                          for name in _SCORE_COLUMNS},
                       "scored_at": pa.array([now] * n, _SCORES_SCHEMA.field("scored_at").type),
                       "run_id": pa.array([run_id] * n, pa.string())}, schema=_SCORES_SCHEMA)
    versions = sorted(set(rows.scores["ruleset_version"]))
    page = pa.table({"conversation_id": pa.array(ids, pa.string()),
                     "ruleset_version": pa.array(rows.scores["ruleset_version"], pa.string())})
    lo, hi = min(ids), max(ids)
    con.register("_page_keys", page)
    con.register("_page_scores", scores)
    con.register("_page_findings", findings)
    try:
        for table in () if fresh else ("findings", "scores"):
            if len(versions) == 1:  # a page of one version (a rescore): pruned by version and id range
                con.execute(f"DELETE FROM {table} WHERE ruleset_version = ? AND conversation_id BETWEEN ? AND ? "
                            "AND conversation_id IN (SELECT conversation_id FROM _page_keys)", [versions[0], lo, hi])
            else:
                con.execute(f"DELETE FROM {table} WHERE conversation_id BETWEEN ? AND ? AND conversation_id IN "
                            "(SELECT conversation_id FROM _page_keys) AND (conversation_id, ruleset_version) IN "
                            "(SELECT (conversation_id, ruleset_version) FROM _page_keys)", [lo, hi])
        con.execute("INSERT INTO findings SELECT * FROM _page_findings")
        con.execute("INSERT INTO scores SELECT * FROM _page_scores")
        latest = 0 if fresh else con.execute(  # anything stored for them scored as late as now? (clocks)
            "SELECT count(*) FROM current_scores WHERE conversation_id BETWEEN ? AND ? AND conversation_id IN "
            "(SELECT conversation_id FROM _page_keys) AND scored_at >= ?", [lo, hi, now]).fetchone()[0]
        if latest or len(set(ids)) != n:
            refresh_current(con, sorted(set(ids)))
        else:
            current_from_page(con, "_page_keys", "_page_scores", "_page_findings", (lo, hi), fresh=fresh)
    finally:
        for name in ("_page_keys", "_page_scores", "_page_findings"):
            con.unregister(name)


def _store_tokens(con: duckdb.DuckDBPyConnection, rows: ScoredRows, analysis_version: str | None) -> None:
    """The fresh tokens and lemmas of re-analysed utterances, by key (so the next rescore reuses them)."""
    t = rows.tokens
    con.register("_fresh_tokens", pa.table({
        "conversation_id": pa.array(t["conversation_id"], pa.string()), "idx": pa.array(t["idx"], pa.int32()),
        "tokens": pa.array(t["tokens"], pa.string()), "lemmas": pa.array(t["lemmas"], pa.string())}))
    try:
        con.execute(  # by key: the page's id range first, so only their row groups are read
            "UPDATE utterances SET tokens = f.tokens, lemmas = f.lemmas, analysis_version = ? FROM _fresh_tokens f "
            "WHERE utterances.conversation_id BETWEEN ? AND ? "
            "AND utterances.conversation_id IN (SELECT conversation_id FROM _fresh_tokens) "
            "AND utterances.conversation_id = f.conversation_id AND utterances.idx = f.idx",
            [analysis_version, min(t["conversation_id"]), max(t["conversation_id"])])
    finally:
        con.unregister("_fresh_tokens")
