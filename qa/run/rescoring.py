"""The plain logic of a streaming rescore (the flow in ``qa/flows/rescore.py`` only wires it): what a page was,
what a failed page records, and the run's running totals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.records import Conversation, Failure, ScoredConversation
from qa.rules.scoring import Scorer
from qa.store.rescore import ChunkProgress, ResumePoint, StoredPage, has_tokens
from qa.store.scores import ScoredRows, scored_rows

DEFAULT_CHUNK_SIZE = 2000  # a page's fixed costs (3 Prefect task runs, a commit) stay small beside its scoring
DEFAULT_IN_FLIGHT = 4  # pages scored at once: enough to keep a few workers busy, few enough to bound memory


class Batch:
    """A page handed to a task as one object that Prefect does not walk into (its parameter checks would visit
    every row) and that survives Dask's packing of arguments (Prefect's ``opaque``, a tuple, does not)."""

    def __init__(self, page: StoredPage) -> None:
        self.page = page


@dataclass(frozen=True)
class Page:
    """What the flow keeps of a page while it is being scored: no utterances, only ids."""

    last_conversation_id: str
    conversation_ids: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]  # (source_path, content_sha256) per conversation


def page_of(page: StoredPage | Sequence[Conversation]) -> Page:
    """The page record of a read page (non-empty): stored rows, or conversations."""
    if isinstance(page, StoredPage):
        ids = tuple(page.ids())
        return Page(last_conversation_id=ids[-1], conversation_ids=ids, sources=tuple(page.sources()))
    return Page(last_conversation_id=page[-1].conversation_id,
                conversation_ids=tuple(c.conversation_id for c in page),
                sources=tuple((c.source_path, c.content_sha256) for c in page))


@dataclass
class ScoredPage:
    """A page scored: the rows to write (:class:`~qa.store.scores.ScoredRows`), its failures, and how many of its
    conversations were analysed afresh (the others were scored from their stored tokens)."""

    rows: ScoredRows
    failures: list[Failure]
    reanalysed: int


def score_stored(page: StoredPage, rules_dir: str) -> ScoredPage:
    """Score a page of stored conversations (analysing only what has no current tokens; a failing conversation
    becomes a Failure) and build the rows its write stores. Runs where the page is scored: the flow's thread, a
    scoring process (:mod:`qa.run.score_pool`) or a Dask worker."""
    from qa.run import pipeline

    conversations = page.records()
    reused = {c.conversation_id for c in conversations if has_tokens(c)}
    scored, failures = split_results(pipeline.score_chunk(conversations, pipeline.PipelineSettings(
        rules_dir=rules_dir)))
    fresh = [s.conversation for s in scored if s.conversation.conversation_id not in reused]
    return ScoredPage(scored_rows(scored, fresh), failures, len(fresh))


def joined(parts: Sequence[ScoredPage]) -> ScoredPage:
    """The slices of one page, scored apart (in order), as the page scored whole."""
    whole = ScoredPage(ScoredRows(), [], 0)
    for part in parts:
        whole.rows.extend(part.rows)
        whole.failures += part.failures
        whole.reanalysed += part.reanalysed
    return whole


def page_failures(page: Page, exc: BaseException) -> list[Failure]:
    """Failure records for every conversation of a page whose scoring task failed even after its retries."""
    return [Failure(path, "score", f"{path}: {type(exc).__name__}: {exc}", sha) for path, sha in page.sources]


@dataclass
class RescoreTotals:
    """Running totals of a rescore (a resumed one starts from what the interrupted run wrote)."""

    conversations: int = 0
    flagged: int = 0
    failed: int = 0
    reanalysed: int = 0
    last_conversation_id: str | None = None  # of the last page written

    @classmethod
    def resumed(cls, point: ResumePoint | None) -> RescoreTotals:
        if point is None:
            return cls()
        return cls(point.conversations, point.flagged, point.failed, point.reanalysed, point.last_conversation_id)

    def add(self, progress: ChunkProgress) -> None:
        self.conversations += progress.conversations
        self.flagged += progress.flagged
        self.failed += progress.failed
        self.reanalysed += progress.reanalysed
        self.last_conversation_id = progress.last_conversation_id


def split_results(results: Sequence[ScoredConversation | Failure]
                  ) -> tuple[list[ScoredConversation], list[Failure]]:
    """Scored conversations and failures of a page's results."""
    return ([r for r in results if isinstance(r, ScoredConversation)],
            [r for r in results if isinstance(r, Failure)])


def chunk_progress(run_id: str, ruleset_version: str, page: Page, scored: ScoredPage) -> ChunkProgress:
    """The progress row of a written page."""
    return ChunkProgress(
        run_id=run_id, ruleset_version=ruleset_version, last_conversation_id=page.last_conversation_id,
        conversations=len(scored.rows), flagged=scored.rows.flagged, failed=len(scored.failures),
        reanalysed=scored.reanalysed,
    )


def failed_page(page: Page, exc: BaseException) -> ScoredPage:
    """A page whose scoring task failed even after its retries: a failure for each of its conversations."""
    return ScoredPage(ScoredRows(), page_failures(page, exc), 0)


def failing_rule_tests(rules_dir: str | Path, scorer: Scorer | None = None) -> list[str]:
    """Every failing check of the rule set's own tests (``rule: what failed``); empty when they all pass."""
    from qa.rules.rule_tests import run_rule_tests

    return [f"{result.rule_id}: {failure}" for result in run_rule_tests(rules_dir, scorer)
            for failure in result.failures]
