"""Small value records passed between the pipeline's stages.

Every stage takes and returns these plain dataclasses (never models, connections or
third-party objects), so Prefect tasks can hand them across threads or processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Speaker = Literal["operator", "client", "bot", "unknown"]
Channel = Literal["call", "chat"]
SPEAKERS: tuple[str, ...] = ("operator", "client", "bot", "unknown")


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised (or typed) word with its time in seconds from the conversation start."""

    text: str
    start: float
    end: float
    probability: float = 1.0
    speaker_confidence: float | None = None  # mono calls: how sure the speaker of this word is (0–1); else None


@dataclass(frozen=True, slots=True)
class Token:
    """One normalised, lemmatised token of an utterance, with the time of the word it came from."""

    text: str  # surface form as written or spoken
    norm: str  # lower case, ё→е, digits spelled out
    lemma: str
    start: float
    end: float


@dataclass(slots=True)
class Utterance:
    """One turn of one speaker: a call turn or a chat message."""

    speaker: str
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    tokens: tuple[Token, ...] = ()  # filled by qa.text.analysis.analyse_conversation

    @property
    def lemmas(self) -> str:
        return " ".join(t.lemma for t in self.tokens)


@dataclass(slots=True)
class Conversation:
    """A call, chat or external transcript, with its metadata and utterances in time order."""

    conversation_id: str
    channel: Channel
    source_path: str
    content_sha256: str
    utterances: list[Utterance] = field(default_factory=list)
    operator_id: str | None = None
    team: str | None = None
    started_at: datetime | None = None
    duration_s: float | None = None
    speaker_mode: str = "stereo"  # stereo | mono | chat | transcript
    metadata: dict[str, Any] = field(default_factory=dict)
    transcription: dict[str, Any] = field(default_factory=dict)  # ASR options and stats, for calls
    warnings: list[str] = field(default_factory=list)  # what reading it noticed without refusing it, in words


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule hit, explained by a quote and its time span."""

    rule_id: str
    category: str
    kind: str
    severity: str
    speaker: str
    start_s: float
    end_s: float
    quote: str
    message: str = ""
    utterance_idx: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step of a script checklist: passed or not, with its evidence or the reason it failed."""

    rule_id: str
    step: str
    title: str
    category: str
    weight: float
    passed: bool
    applicable: bool = True
    quote: str | None = None
    start_s: float | None = None
    end_s: float | None = None
    reason: str = ""
    utterance_idx: int | None = None
    unverified: str = ""  # why a step said only by a voice of unknown speaker (or only in a prompt echo) is not passed


@dataclass(frozen=True, slots=True)
class Score:
    """The scorecard of one conversation."""

    total: float
    passed: bool
    flagged: bool
    escalation: bool
    auto_failed: bool = False
    reasons: tuple[str, ...] = ()
    speaker_uncertain: int = 0  # operator-rule findings on unknown-speaker turns: not deducted, flagged for review
    unverified_steps: int = 0  # steps said only by an unknown speaker or in a prompt echo: not passed
    unverified_findings: int = 0  # findings not deducted for want of a speaker, or heard only in a prompt echo


@dataclass(slots=True)
class ScoredConversation:
    """A conversation with everything the rule set said about it."""

    conversation: Conversation
    ruleset_version: str
    findings: list[Finding]
    steps: list[StepResult]
    metrics: dict[str, float | None]
    score: Score


@dataclass(frozen=True, slots=True)
class Failure:
    """An input that could not be processed, and why."""

    source_path: str
    stage: str
    error: str
    content_sha256: str | None = None
