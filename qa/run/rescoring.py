"""The plain logic of a streaming rescore (the flow in ``qa/flows/rescore.py`` only wires it): what a page was,
what a failed page records, and the run's running totals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.records import Conversation, Failure, ScoredConversation
from qa.rules.scoring import Scorer
from qa.store.rescore import ChunkProgress, ResumePoint, has_tokens

DEFAULT_CHUNK_SIZE = 500
DEFAULT_IN_FLIGHT = 4  # pages scored at once: enough to keep a few workers busy, few enough to bound memory


class Batch:
    """Conversations handed to a task as one object that Prefect does not walk into (its parameter checks would
    visit every token) and that survives Dask's packing of arguments (Prefect's ``opaque``, a tuple, does not)."""

    def __init__(self, conversations: Sequence[Conversation]) -> None:
        self.conversations = list(conversations)


@dataclass(frozen=True)
class Page:
    """What the flow keeps of a page while it is being scored: no utterances, only ids."""

    last_conversation_id: str
    conversation_ids: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]  # (source_path, content_sha256) per conversation
    reused: frozenset[str]  # conversations scored from their stored tokens


def page_of(conversations: Sequence[Conversation]) -> Page:
    """The page record of a loaded page (non-empty)."""
    return Page(
        last_conversation_id=conversations[-1].conversation_id,
        conversation_ids=tuple(c.conversation_id for c in conversations),
        sources=tuple((c.source_path, c.content_sha256) for c in conversations),
        reused=frozenset(c.conversation_id for c in conversations if has_tokens(c)),
    )


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


def chunk_progress(run_id: str, ruleset_version: str, page: Page, scored: Sequence[ScoredConversation],
                   failures: Sequence[Failure]) -> ChunkProgress:
    """The progress row of a written page."""
    return ChunkProgress(
        run_id=run_id, ruleset_version=ruleset_version, last_conversation_id=page.last_conversation_id,
        conversations=len(scored), flagged=sum(s.score.flagged for s in scored), failed=len(failures),
        reanalysed=sum(s.conversation.conversation_id not in page.reused for s in scored),
    )


def failing_rule_tests(rules_dir: str | Path, scorer: Scorer | None = None) -> list[str]:
    """Every failing check of the rule set's own tests (``rule: what failed``); empty when they all pass."""
    from qa.rules.rule_tests import run_rule_tests

    return [f"{result.rule_id}: {failure}" for result in run_rule_tests(rules_dir, scorer)
            for failure in result.failures]


def refreshed(page: Page, scored: Sequence[ScoredConversation]) -> list[Conversation]:
    """The conversations of a page that were analysed afresh (their tokens are worth storing)."""
    return [s.conversation for s in scored if s.conversation.conversation_id not in page.reused]
