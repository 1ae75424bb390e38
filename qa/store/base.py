"""The :class:`Store`: what every store kind offers, the write path built on it, and the store's own records.

A store is opened once per process from its location (:func:`qa.store.open_store`: a DuckDB file or a DuckLake)
and passed in; flows, queries, the page and rescore call its methods. A kind provides four things — open a
connection, run a write transaction, run read-only queries, say whether anything is stored — and everything else
here (runs, results, reviews, reloading conversations) is written once on top of them.

Writes are bulk (Arrow tables, never row by row) and short: one transaction per chunk. Every write rewrites the
current results of the conversations it touched in the same transaction (:mod:`qa.store.current`), and their rows of
the search index (:mod:`qa.store.search_index`).
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

import duckdb
import pyarrow as pa

from qa.records import Conversation, Failure, ScoredConversation
from qa.store.current import carry_reviews, reviewed_now, set_verdict
from qa.store.process import ProcessIdentity
from qa.store.rows import (
    CONVERSATION_COLUMNS,
    conversation_row,
    conversations_from_rows,
    insert_rows,
    to_json,
    utterance_rows,
)
from qa.store.scores import replace_scores, scored_rows, write_scored_in
from qa.store.search_index import index_conversations

T = TypeVar("T")
LOCK_RETRY_S = 30.0  # how long a reader or writer waits for another process's lock on a DuckDB file
PERMANENT_STAGES = ("input", "discover", "decode", "parse")  # the file itself is bad: retrying cannot help
VERDICTS = ("confirmed", "false_positive", "disputed")
HEARTBEAT_EVERY = timedelta(minutes=1)  # how often a run's writes note in ``runs`` that it is alive


class StoreError(Exception):
    """The database could not be opened or read."""


class StoreNotFound(StoreError):
    """Nothing has been stored yet (no DuckDB file; a lake without the QA tables)."""


@dataclass(frozen=True)
class RunInfo:
    """One flow run (or rescore), as recorded in ``runs``."""

    run_id: str
    kind: str = "run"
    inbox: str | None = None
    ruleset_version: str | None = None
    rules_dir: str | None = None
    model: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunCounts:
    """What a run did, as recorded in ``runs`` when it ends."""

    discovered: int = 0
    skipped: int = 0
    processed: int = 0
    failed: int = 0
    flagged: int = 0


@dataclass(frozen=True)
class Review:
    """A supervisor's verdict on one finding (``finding_key``) or on a whole conversation (no key)."""

    conversation_id: str
    verdict: str
    reviewer: str
    finding_key: str | None = None
    comment: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class Store(ABC):
    """Where conversations, scores, reviews and accounts are kept: a DuckDB file or a DuckLake.

    A store object holds only its parsed location (it pickles, so a task on another process can take it); the
    connections are opened by its methods, one per call, never shared across threads or tasks.
    """

    is_lake: ClassVar[bool] = False

    @property
    @abstractmethod
    def location(self) -> str:
        """The setting it was opened from (``--db``, ``QA_DB``, qa.toml's ``db``)."""

    @property
    def display(self) -> str:
        """The store's name for messages (a lake's password masked)."""
        return self.location

    def __str__(self) -> str:
        return self.display

    # --- what each kind provides ---------------------------------------------------------------------------

    @abstractmethod
    def connect(self, read_only: bool = False, wait_s: float = LOCK_RETRY_S
                ) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A connection (created and migrated when writable), retried while another process writes; a
        ``read_only`` one reads one snapshot. Use it as a context manager; it is closed on leaving."""

    @abstractmethod
    def write_transaction(self, body: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``body(con)`` in one write transaction and return its result (rolled back on error). A kind may run
        it again (a lake's lost commit race), so ``body`` must be safe to repeat: delete, then insert."""

    @abstractmethod
    def run_queries(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[tuple[list[str], list]]:
        """Run read-only queries on one connection (one consistent view); the column names and rows of each."""

    @abstractmethod
    def exists(self) -> bool:
        """Whether anything is stored yet."""

    @abstractmethod
    def check_not_damaged(self) -> None:
        """Raise :class:`StoreError` when the store is damaged, without waiting for a writer's lock."""

    def hold(self, idle_s: float | None = None) -> AbstractContextManager[None]:
        """Inside the block, the calls of this process reuse one writer connection where the kind gains by it (a
        DuckDB file: no open, migration check and checkpoint per call; given up for other processes every few
        seconds, and after ``idle_s`` seconds without a call when given); a lake's connections are cheap, and it
        holds nothing."""
        return nullcontext()

    def night_writes(self) -> AbstractContextManager[None]:
        """Around a run's writes (the nightly flow's chunks): a DuckDB file keeps one writer connection while
        writes follow each other (closed after a second without one, so readers get in while chunks are worked on)
        and defers its checkpoints to the log's threshold and the block's end (:meth:`hold`,
        :meth:`deferred_checkpoints`); a chunk's write then costs the same on a big store as on an empty one. A
        lake needs neither."""
        return nullcontext()

    def deferred_checkpoints(self) -> AbstractContextManager[None]:
        """Inside the block, this process's writes to a DuckDB file leave their changes in the file's write-ahead
        log (durable at each commit, read by every reader) instead of checkpointing the file at each close: a
        checkpoint rewrites the last row group of every table written, so it costs more the bigger the store.
        DuckDB checkpoints by itself when the log passes ``checkpoint_threshold``, and the block's end checkpoints
        once, so the file stands alone again. Connections are still opened and closed per call (readers get their
        turn between writes). A lake has no checkpoint: nothing to defer."""
        return nullcontext()

    @abstractmethod
    def locked_connection(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A read-only connection locked to the store (:func:`qa.store.locked.lock`: no file access, no extension,
        no setting changed), for SQL written by people. Use it as a context manager."""

    # --- reads ---------------------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple]]:
        """Run a read-only query; returns column names and rows."""
        return self.run_queries([(sql, params)])[0]

    def locked_query(self, sql: str, accounts: bool = False) -> tuple[list[str], list[tuple]]:
        """Run one SELECT written by a person (``qa sql``) on a :meth:`locked_connection`, after checking that it
        reads only the store's data tables (account tables too when ``accounts``); column names and rows.
        Raises :class:`qa.store.locked.QueryRefused` for anything else (:mod:`qa.store.locked`)."""
        from qa.store.locked import check_plan, single_select

        statement = single_select(sql)
        with self.locked_connection() as con:
            check_plan(con, statement, accounts)
            cur = con.execute(statement)
            return ([d[0] for d in cur.description] if cur.description else [], cur.fetchall())

    def _column(self, table: str, sql: str, params: Sequence[Any] = ()) -> set[Any]:
        """The first column of ``sql`` as a set (empty when nothing is stored or ``table`` is not there yet)."""
        if not self.exists():
            return set()
        with self.connect(read_only=True) as con:
            tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            if table not in tables:
                return set()
            return {r[0] for r in con.execute(sql, list(params)).fetchall()}

    def stored_hashes(self) -> set[str]:
        """Content hashes of every stored conversation (empty when there is no database yet)."""
        return self._column("conversations", "SELECT content_sha256 FROM conversations")

    def permanently_failed_hashes(self) -> set[str]:
        """Content hashes of inputs that failed because the file is bad (truncated audio, broken JSON): a file is
        tried again only once its content (and so its hash) changes."""
        return self._column("failures", "SELECT DISTINCT content_sha256 FROM failures WHERE content_sha256 IS NOT "
                                        "NULL AND stage IN (SELECT unnest(?::VARCHAR[]))", [list(PERMANENT_STAGES)])

    def load_conversations(self, ids: Sequence[str] | None = None) -> list[Conversation]:
        """Stored conversations with their utterances (and word timings), for re-scoring."""
        with self.connect(read_only=True) as con:
            where, params = ("WHERE conversation_id IN (SELECT unnest(?))", [list(ids)]) if ids else ("", [])
            kept = f"{where} AND purged_at IS NULL" if where else "WHERE purged_at IS NULL"  # purged: nothing to score
            convs = con.execute(f"SELECT {CONVERSATION_COLUMNS} FROM conversations {kept} ORDER BY conversation_id",
                                params).fetchall()
            utts = con.execute(
                f"SELECT conversation_id, speaker, start_s, end_s, text, words FROM utterances {where} "
                "ORDER BY conversation_id, idx",
                params,
            ).fetchall()
        return conversations_from_rows(convs, utts)

    # --- writes --------------------------------------------------------------------------------------------

    def start_run(self, run: RunInfo) -> None:
        """Record a run as running, by this process (host, pid: see :mod:`qa.store.process`)."""
        started = _now()
        me = ProcessIdentity.current()

        def body(con: duckdb.DuckDBPyConnection) -> None:
            if self.is_lake:  # a retried commit that had in fact landed leaves no second row
                con.execute("DELETE FROM runs WHERE run_id = ?", [run.run_id])
            con.execute(
                "INSERT INTO runs (run_id, kind, started_at, status, inbox, ruleset_version, rules_dir, model, "
                "settings, host, pid, pid_started, heartbeat_at) "
                "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run.run_id, run.kind, started, run.inbox, run.ruleset_version, run.rules_dir, run.model,
                 to_json(run.settings), me.host, me.pid, me.started, started],
            )

        self.write_transaction(body)

    def finish_run(self, run_id: str, counts: RunCounts, status: str = "completed") -> None:
        """Record a run's end and counts."""
        ended = _now()
        self.write_transaction(lambda con: con.execute(
            "UPDATE runs SET ended_at = ?, status = ?, discovered = ?, skipped = ?, processed = ?, failed = ?,"
            " flagged = ? WHERE run_id = ?",
            [ended, status, counts.discovered, counts.skipped, counts.processed, counts.failed, counts.flagged,
             run_id],
        ))

    def write_results(self, run_id: str, scored: Sequence[ScoredConversation],
                      failures: Sequence[Failure] = ()) -> list[Failure]:
        """Store scored conversations (replacing any earlier copy of the same id) and failures, in one transaction.

        A second conversation with an id already taken in the same call is not stored: it is recorded as a failure
        naming both files (the returned list), since the store keeps one conversation per id. On a DuckLake a
        conversation another writer stored meanwhile with the same content is left as it is, and the transaction is
        retried whole when it loses a commit race (see :meth:`write_transaction`).
        """
        now = _now()
        on_lake = self.is_lake
        scored, duplicates = _unique_ids(scored)
        failures = [*failures, *duplicates]

        def body(con: duckdb.DuckDBPyConnection) -> None:
            todo, stored = _stored_copies(con, scored)
            if on_lake:  # the same content another writer stored meanwhile (or a commit that landed) is left alone
                todo = [s for s in todo if stored.get(s.conversation.conversation_id) != s.conversation.content_sha256]
            if todo:
                ids = [s.conversation.conversation_id for s in todo]
                replacing = [cid for cid in ids if cid in stored]
                fresh = not replacing  # a night's new conversations: no rows of theirs anywhere, nothing reviewed
                before = [] if fresh else reviewed_now(con, ids)
                if replacing:  # earlier copies go, every table, by key; a night of new conversations skips this
                    con.register("_ids", pa.table({"conversation_id": replacing}))
                    try:
                        for table in ("findings", "scores", "utterances", "conversations"):
                            con.execute(f"DELETE FROM {table} WHERE conversation_id IN "
                                        "(SELECT conversation_id FROM _ids)")
                    finally:
                        con.unregister("_ids")
                insert_rows(con, "conversations", [conversation_row(s.conversation, run_id, now) for s in todo])
                insert_rows(con, "utterances", [r for s in todo for r in utterance_rows(s.conversation)])
                replace_scores(con, run_id, scored_rows(todo), now, fresh=fresh)
                index_conversations(con, [s.conversation for s in todo], fresh=fresh)
                carry_reviews(con, before)
            if failures and on_lake:  # a retried commit that had in fact landed leaves no second row
                con.execute("DELETE FROM failures WHERE run_id = ? AND source_path IN (SELECT unnest(?::VARCHAR[]))",
                            [run_id, [f.source_path for f in failures]])
            insert_rows(con, "failures", failure_rows(run_id, failures, now))
            heartbeat(con, run_id, now)

        self.write_transaction(body)
        return duplicates

    def write_rescored(self, run_id: str, scored: Sequence[ScoredConversation]) -> None:
        """Store new findings and scores for stored conversations (other rule set versions are kept)."""
        now = _now()
        self.write_transaction(lambda con: write_rescored_in(con, run_id, scored, now))

    def add_review(self, review: Review) -> str:
        """Record a verdict (history is kept; the latest one is in force); returns the new review id.

        The conversation (and the finding, when a key is given) must exist in the current results.
        """
        if review.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {review.verdict!r}")
        if not review.reviewer.strip():
            raise ValueError("reviewer is required")
        if not self.exists():
            raise StoreNotFound(f"{self.display}: database not found (run `qa run` first)")
        review_id = str(uuid.uuid4())
        created = _now()

        def body(con: duckdb.DuckDBPyConnection) -> None:
            if review.finding_key is None:
                found = con.execute("SELECT NULL FROM latest_scores WHERE conversation_id = ?",
                                    [review.conversation_id]).fetchone()
            else:
                found = con.execute("SELECT rule_id FROM latest_findings WHERE conversation_id = ? AND "
                                    "finding_key = ?", [review.conversation_id, review.finding_key]).fetchone()
            if found is None:
                what = f"finding {review.finding_key}" if review.finding_key else "conversation"
                raise LookupError(f"{review.conversation_id}: {what} not found")
            con.execute("DELETE FROM reviews WHERE review_id = ?", [review_id])  # a retried commit: no second row
            con.execute(
                "INSERT INTO reviews (review_id, conversation_id, finding_key, rule_id, verdict, comment, reviewer, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [review_id, review.conversation_id, review.finding_key, found[0], review.verdict,
                 (review.comment or "").strip() or None, review.reviewer.strip(), created],
            )
            if review.finding_key is not None:
                set_verdict(con, review.conversation_id, review.finding_key, review.verdict)

        self.write_transaction(body)
        return review_id


def write_rescored_in(con: duckdb.DuckDBPyConnection, run_id: str, scored: Sequence[ScoredConversation],
                      now: datetime) -> None:
    """:meth:`Store.write_rescored`'s work inside the caller's write transaction (:func:`qa.store.scores.
    write_scored_in` of their rows: the conversations dated by their scoring time have their search rows moved)."""
    if not scored:
        return
    write_scored_in(con, run_id, scored_rows(scored), now)
    heartbeat(con, run_id, now)


def heartbeat(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime) -> None:
    """Note in ``runs`` that the run just wrote, to the :data:`HEARTBEAT_EVERY` (a run on another host is taken for
    dead only after hours of silence; an update per chunk cost a lake a rewrite of ``runs`` per chunk)."""
    if now - _BEATEN.get(run_id, now - HEARTBEAT_EVERY) < HEARTBEAT_EVERY:
        return  # this process noted it less than a minute ago (not even a statement: a lake's UPDATE costs)
    con.execute("UPDATE runs SET heartbeat_at = ? WHERE run_id = ? AND (heartbeat_at IS NULL OR heartbeat_at <= ?)",
                [now, run_id, now - HEARTBEAT_EVERY])
    _BEATEN[run_id] = now


_BEATEN: dict[str, datetime] = {}  # when this process last noted each run's heartbeat


def failure_rows(run_id: str, failures: Sequence[Failure], now: datetime) -> list[dict[str, Any]]:
    """The ``failures`` rows of a run's failed inputs."""
    return [{"source_path": f.source_path, "run_id": run_id, "stage": f.stage, "error": f.error,
             "content_sha256": f.content_sha256, "failed_at": now} for f in failures]


def _unique_ids(scored: Sequence[ScoredConversation]) -> tuple[list[ScoredConversation], list[Failure]]:
    """The first conversation of each id, and a failure for every later one naming the file that has the id."""
    first: dict[str, ScoredConversation] = {}
    duplicates: list[Failure] = []
    for s in scored:
        c = s.conversation
        taken = first.setdefault(c.conversation_id, s)
        if taken is not s:
            duplicates.append(Failure(c.source_path, "input", f"{c.source_path}: conversation id "
                                      f"{c.conversation_id!r} is also the id of {taken.conversation.source_path} "
                                      "(stored from that file); give each conversation its own id", c.content_sha256))
    return list(first.values()), duplicates


def _stored_copies(con: duckdb.DuckDBPyConnection, scored: Sequence[ScoredConversation]
                   ) -> tuple[list[ScoredConversation], dict[str, str]]:
    """``scored`` and the content hash stored now under each of their ids that is stored (one keyed read of
    ``conversations``)."""
    if not scored:
        return [], {}
    ids = [s.conversation.conversation_id for s in scored]
    con.register("_candidates", pa.table({"conversation_id": ids}))
    try:
        stored = dict(con.execute(  # the id range first: the store's id order skips the rest (zone maps, file stats)
            "SELECT conversation_id, content_sha256 FROM conversations WHERE conversation_id BETWEEN ? AND ? AND "
            "conversation_id IN (SELECT conversation_id FROM _candidates)", [min(ids), max(ids)]).fetchall())
    finally:
        con.unregister("_candidates")
    return list(scored), stored
