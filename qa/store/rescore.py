"""The store side of a streaming, resumable ``qa rescore``: pages of stored conversations, stored tokens, progress.

Conversations are read in pages of ``conversation_id`` order (keyset pagination: ``WHERE conversation_id > last
ORDER BY conversation_id LIMIT n``), each page on its own read-only connection, so a rescore never holds the
whole store in memory. Every page written leaves a row in ``rescore_progress``; an unfinished rescore of the same
rule set version resumes after the last page it wrote. Tokens stored with an utterance are handed back only
while their analysis version is the current one (:mod:`qa.text.analysis_version`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from qa.records import Conversation, Failure, ScoredConversation
from qa.store.base import Store, failure_rows, heartbeat
from qa.store.rows import CONVERSATION_COLUMNS, conversations_from_rows, insert_rows, tokens_from_json
from qa.store.scores import ScoredRows, scored_rows, write_scored_in


@dataclass(frozen=True)
class ResumePoint:
    """An unfinished rescore: its run id, the last conversation id it wrote, and its counts so far."""

    run_id: str
    last_conversation_id: str
    conversations: int
    flagged: int
    failed: int
    reanalysed: int


@dataclass(frozen=True)
class ChunkProgress:
    """What one written page of a rescore did."""

    run_id: str
    ruleset_version: str
    last_conversation_id: str
    conversations: int
    flagged: int
    failed: int
    reanalysed: int


def _has_table(con: Any, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
                .fetchone()[0])


@dataclass(frozen=True)
class StoredPage:
    """A page of stored conversations as read: ``conversations`` rows (the columns of
    :data:`~qa.store.rows.CONVERSATION_COLUMNS`) and their ``utterances`` rows ``(conversation_id, speaker, start_s,
    end_s, text, words, tokens)`` in turn order (tokens only where their analysis is the current one), as Arrow
    tables: read without making a Python object per value, and handed to another process as buffers;
    :meth:`records` builds the conversations where they are scored."""

    conversations: pa.Table
    utterances: pa.Table

    def __len__(self) -> int:
        return self.conversations.num_rows

    def ids(self) -> list[str]:
        """The page's conversation ids, in order."""
        return self.conversations.column(0).to_pylist()

    def sources(self) -> list[tuple[str, str]]:
        """``(source_path, content_sha256)`` of each conversation, in order."""
        return list(zip(self.conversations.column(2).to_pylist(), self.conversations.column(3).to_pylist(),
                        strict=True))

    def slices(self, n: int) -> list[StoredPage]:
        """The page cut into at most ``n`` pages of consecutive conversations (as even as can be), in order, each
        with its own utterances: one page scored by several processes at once."""
        total = len(self)
        n = max(1, min(n, total))
        if n == 1:
            return [self]
        utterance_ids = self.utterances.column(0)
        out, start = [], 0
        for k in range(n):
            stop = total * (k + 1) // n
            convs = self.conversations.slice(start, stop - start)
            mask = pc.is_in(utterance_ids, value_set=convs.column(0))
            out.append(StoredPage(convs, self.utterances.filter(mask)))
            start = stop
        return out

    def records(self) -> list[Conversation]:
        """The page's conversations, with their utterances (and tokens where stored ones were handed back)."""
        return conversations_from_rows(_rows(self.conversations), _rows(self.utterances), tokens_from_json)


def _rows(table: pa.Table) -> list[tuple]:
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))


def read_page(store: Store, after: str | None, limit: int, analysis_version: str | None = None) -> StoredPage:
    """Up to ``limit`` stored (unpurged) conversations with ids after ``after``, in id order, as stored rows;
    utterances' stored tokens are handed back where they carry ``analysis_version``."""
    with store.connect(read_only=True) as con:
        convs = con.execute(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations "
            "WHERE purged_at IS NULL AND (?::VARCHAR IS NULL OR conversation_id > ?) "
            "ORDER BY conversation_id LIMIT ?", [after, after, limit]).to_arrow_table()
        if not convs.num_rows:
            return StoredPage(convs, pa.table({}))
        ids = convs.column(0)
        con.register("_page_ids", pa.table({"conversation_id": ids}))
        try:
            utts = con.execute(
                "SELECT conversation_id, speaker, start_s, end_s, text, words, "
                "CASE WHEN analysis_version = ? THEN tokens END FROM utterances "
                "WHERE conversation_id BETWEEN ? AND ? AND conversation_id IN (SELECT conversation_id FROM _page_ids)"
                " ORDER BY conversation_id, idx", [analysis_version, ids[0].as_py(), ids[-1].as_py()]
            ).to_arrow_table()
        finally:
            con.unregister("_page_ids")
    return StoredPage(convs, utts)


def load_page(store: Store, after: str | None, limit: int, analysis_version: str | None = None
              ) -> list[Conversation]:
    """Up to ``limit`` stored (unpurged) conversations with ids after ``after``, in id order, with utterances.

    Where ``analysis_version`` is given and an utterance's stored tokens carry that version, they are filled in
    (so scoring skips the analysis); otherwise utterances come back without tokens.
    """
    return read_page(store, after, limit, analysis_version).records()


def count_after(store: Store, after: str | None) -> int:
    """How many stored (unpurged) conversations have ids after ``after`` (all of them for ``None``)."""
    with store.connect(read_only=True) as con:
        return int(con.execute("SELECT count(*) FROM conversations WHERE purged_at IS NULL AND "
                               "(?::VARCHAR IS NULL OR conversation_id > ?)", [after, after]).fetchone()[0])


def has_tokens(conversation: Conversation) -> bool:
    """Whether every utterance with text has tokens (scoring will not re-analyse it)."""
    return all(u.tokens for u in conversation.utterances if u.text.strip())


# The status of a rescore stopped by its runner (a lost Dask scheduler): not finished, resumable like one killed.
INTERRUPTED = "interrupted"
RESUMABLE = ("running", INTERRUPTED)


def resume_point(store: Store, ruleset_version: str, rules_dir: str) -> ResumePoint | None:
    """The latest unfinished (running or interrupted) rescore of this rule set version and folder that wrote at
    least one page."""
    if not store.exists():
        return None
    with store.connect(read_only=True) as con:
        if not _has_table(con, "rescore_progress"):
            return None
        row = con.execute(
            "SELECT r.run_id, max(p.last_conversation_id), sum(p.conversations), sum(p.flagged), sum(p.failed), "
            "sum(p.reanalysed) FROM runs r JOIN rescore_progress p ON p.run_id = r.run_id "
            "WHERE r.kind = 'rescore' AND r.status IN (?, ?) AND r.ruleset_version = ? AND r.rules_dir = ? "
            "GROUP BY r.run_id, r.started_at ORDER BY r.started_at DESC LIMIT 1",
            [*RESUMABLE, ruleset_version, rules_dir]).fetchone()
    if row is None:
        return None
    return ResumePoint(row[0], row[1], int(row[2]), int(row[3]), int(row[4]), int(row[5]))


def mark_resumed(store: Store, run_id: str) -> None:
    """An interrupted rescore being carried on is running again."""
    store.write_transaction(lambda con: con.execute(
        "UPDATE runs SET status = 'running', ended_at = NULL WHERE run_id = ?", [run_id]))


def record_chunk(store: Store, progress: ChunkProgress, failures: Sequence[Failure] = (),
                 refreshed: Sequence[Conversation] = (), scored: Sequence[ScoredConversation] = (),
                 rows: ScoredRows | None = None) -> None:
    """A written page, in one transaction: its new scores and findings, the current results and search rows they
    move, the fresh tokens of the conversations that were re-analysed (so the next rescore reuses them, and the
    search index has their new lemmas), its progress row and its failures. ``rows`` is the page as its scoring
    worker built it (:func:`qa.store.scores.scored_rows`); else it is built here from ``scored`` and
    ``refreshed``. One transaction, so a page is written whole or not at all."""
    now = datetime.now(UTC)
    if rows is None:
        rows = scored_rows(scored, refreshed)
    from qa.text.analysis_version import analysis_version

    version = analysis_version()

    def body(con: Any) -> None:
        write_scored_in(con, progress.run_id, rows, now, version)
        heartbeat(con, progress.run_id, now)
        insert_rows(con, "rescore_progress", [{
            "run_id": progress.run_id, "ruleset_version": progress.ruleset_version,
            "last_conversation_id": progress.last_conversation_id, "conversations": progress.conversations,
            "flagged": progress.flagged, "failed": progress.failed, "reanalysed": progress.reanalysed,
            "written_at": now}])
        insert_rows(con, "failures", failure_rows(progress.run_id, failures, now))

    store.write_transaction(body)  # a DuckLake commit that loses a race is run again whole


# --- the before/after summary ----------------------------------------------------------------------------------

FLAG_EXAMPLES = 20  # conversation ids listed per direction of a flag change


def keep_baseline(store: Store, run_id: str) -> None:
    """Before a rescore writes anything: keep every scored (unpurged) conversation's current total and flag in
    ``rescore_baseline`` and the current findings per rule in the run's ``summary``, to compare with afterwards."""
    from qa.store.rows import to_json

    def body(con: Any) -> None:
        con.execute("DELETE FROM rescore_baseline WHERE run_id = ?", [run_id])
        con.execute("INSERT INTO rescore_baseline SELECT ?, s.conversation_id, s.total, s.flagged "
                    "FROM current_scores s JOIN conversations c ON c.conversation_id = s.conversation_id "
                    "WHERE c.purged_at IS NULL", [run_id])
        con.execute("UPDATE runs SET summary = ? WHERE run_id = ?",
                    [to_json({"before_rules": _rule_counts(con)}), run_id])

    store.write_transaction(body)


def _rule_counts(con: Any) -> dict[str, int]:
    return dict(con.execute(
        "SELECT f.rule_id, count(*) FROM current_findings f JOIN conversations c ON c.conversation_id = "
        "f.conversation_id WHERE c.purged_at IS NULL GROUP BY f.rule_id ORDER BY f.rule_id").fetchall())


def rescore_summary(store: Store, run_id: str) -> dict[str, Any]:
    """What the rescore changed against its baseline: findings per rule before and after, the conversations whose
    flag changed (counts and the first ids of each direction), and the shift of the scores."""
    import json

    with store.connect(read_only=True) as con:
        kept = con.execute("SELECT summary FROM runs WHERE run_id = ?", [run_id]).fetchone()
        before_rules = (json.loads(kept[0]) if kept and kept[0] else {}).get("before_rules")
        compared = con.execute("SELECT count(*) FROM rescore_baseline WHERE run_id = ?", [run_id]).fetchone()[0]
        if before_rules is None or not compared:
            return {"baseline": False}
        after_rules = _rule_counts(con)
        flips = con.execute(
            "SELECT b.conversation_id, s.flagged FROM rescore_baseline b JOIN current_scores s "
            "ON s.conversation_id = b.conversation_id WHERE b.run_id = ? AND b.flagged <> s.flagged "
            "ORDER BY abs(s.total - b.total) DESC, b.conversation_id", [run_id]).fetchall()
        shift = con.execute(
            "SELECT count(*), avg(b.total), avg(s.total), avg(s.total - b.total), "
            "count(*) FILTER (WHERE s.total > b.total + 0.05), count(*) FILTER (WHERE s.total < b.total - 0.05), "
            "min(s.total - b.total), max(s.total - b.total) FROM rescore_baseline b JOIN current_scores s "
            "ON s.conversation_id = b.conversation_id WHERE b.run_id = ?", [run_id]).fetchone()
    rules = sorted(set(before_rules) | set(after_rules))
    per_rule = [{"rule_id": r, "before": int(before_rules.get(r, 0)), "after": int(after_rules.get(r, 0))}
                for r in rules]
    per_rule.sort(key=lambda r: (-abs(r["after"] - r["before"]), r["rule_id"]))
    newly = [cid for cid, flagged in flips if flagged]
    cleared = [cid for cid, flagged in flips if not flagged]
    n, mean_before, mean_after, mean_shift, up, down, lowest, highest = shift

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(float(value), 2)

    return {
        "baseline": True,
        "conversations": int(n),
        "rules": per_rule,
        "newly_flagged": len(newly), "no_longer_flagged": len(cleared),
        "newly_flagged_ids": newly[:FLAG_EXAMPLES], "no_longer_flagged_ids": cleared[:FLAG_EXAMPLES],
        "score": {"mean_before": rounded(mean_before), "mean_after": rounded(mean_after),
                  "mean_shift": rounded(mean_shift), "up": int(up), "down": int(down),
                  "min_shift": rounded(lowest), "max_shift": rounded(highest)},
    }


def finish_summary(store: Store, run_id: str, summary: dict[str, Any]) -> None:
    """Keep the summary with the run (the page shows the last one) and drop the run's baseline rows."""
    from qa.store.rows import to_json

    def body(con: Any) -> None:
        con.execute("UPDATE runs SET summary = ? WHERE run_id = ?", [to_json(summary), run_id])
        con.execute("DELETE FROM rescore_baseline WHERE run_id = ?", [run_id])

    store.write_transaction(body)
