"""The accuracy evaluation set (``tests/fixtures/eval/*.yml``): items, their gold checks and the verdicts read back.

Each item is a call or chat written as data with a fixed half (``tune`` or ``holdout``) and the checks that are
true for it. :func:`verdicts` reads the same checks off a scored conversation, by rule category, so any rule set
can be measured. Call turn times are laid out from the pauses at ``SECONDS_PER_WORD`` (festival's pace).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qa.errors import ConversationFormatError
from qa.records import Conversation, ScoredConversation, Utterance

STEP_CHECKS = ("greeting", "introduction", "company", "farewell")
FINDING_CHECKS = ("stop_words", "escalation", "long_silence", "slow_first_response")
CHECKS = STEP_CHECKS + FINDING_CHECKS
HALVES = ("tune", "holdout")
SECONDS_PER_WORD = 0.38
SPEAKERS = {"o": "operator", "c": "client", "u": "unknown", "b": "bot"}


@dataclass(frozen=True)
class EvalItem:
    """One call or chat of the evaluation set."""

    id: str
    half: str
    channel: str
    gold: frozenset[str]
    turns: tuple[tuple[str, float, str], ...]  # (speaker, pause or offset s, text)
    team: str | None = None
    sidecar: dict[str, Any] = field(default_factory=dict)
    mono: bool = False
    added_later: bool = False  # joined after the split was fixed: tune half only

    def checks(self) -> tuple[str, ...]:
        """The checks this item is judged on (slow first response is a chat check)."""
        return CHECKS if self.channel == "chat" else tuple(c for c in CHECKS if c != "slow_first_response")

    def conversation(self) -> Conversation:
        """The item as a transcript conversation (calls timed from pauses and word counts)."""
        utts: list[Utterance] = []
        t = 0.0
        for speaker, at, text in self.turns:
            if self.channel == "chat":
                utts.append(Utterance(SPEAKERS[speaker], float(at), float(at), text))
                continue
            start = t + float(at)
            end = start + SECONDS_PER_WORD * len(text.split())
            utts.append(Utterance(SPEAKERS[speaker], round(start, 2), round(end, 2), text))
            t = end
        return Conversation(
            conversation_id=self.id, channel=self.channel, source_path=f"eval/{self.id}", content_sha256=self.id,
            utterances=utts, team=self.team, duration_s=utts[-1].end if utts else 0.0,
            speaker_mode="mono" if self.mono else ("chat" if self.channel == "chat" else "transcript"),
            metadata=dict(self.sidecar),
        )


def _item(path: Path, raw: dict[str, Any], channel: str) -> EvalItem:
    where = f"item {raw.get('id')!r}: "
    half = raw.get("half")
    if half not in HALVES:
        raise ConversationFormatError(path, f"{where}field 'half' must be tune or holdout")
    if raw.get("added_later") and half != "tune":
        raise ConversationFormatError(path, f"{where}field 'added_later': items added after the split join the tune "
                                            "half only")
    gold = set(raw.get("gold") or [])
    unknown = gold - set(CHECKS)
    if unknown:
        raise ConversationFormatError(path, f"{where}field 'gold' names unknown checks {sorted(unknown)}")
    turns = tuple((str(s), float(a), str(t)) for s, a, t in raw["turns" if channel == "call" else "messages"])
    return EvalItem(str(raw["id"]), half, channel, frozenset(gold), turns, raw.get("team"),
                    dict(raw.get("sidecar") or {}), bool(raw.get("mono", False)), bool(raw.get("added_later", False)))


def load_eval_set(folder: str | Path) -> list[EvalItem]:
    """Every item of ``calls.yml`` and ``chats.yml`` in ``folder``."""
    folder = Path(folder)
    items: list[EvalItem] = []
    for name, key, channel in (("calls.yml", "calls", "call"), ("chats.yml", "chats", "chat")):
        path = folder / name
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        items += [_item(path, raw, channel) for raw in data[key]]
    return items


def verdicts(scored: ScoredConversation) -> frozenset[str]:
    """The checks that came out true for a scored conversation."""
    out: set[str] = set()
    for step in scored.steps:
        if step.category in STEP_CHECKS and step.passed:
            out.add(step.category)
    for f in scored.findings:
        if f.category == "stop_word" and f.speaker in ("operator", "unknown"):
            out.add("stop_words")
        elif f.kind == "silence":
            out.add("long_silence")
        elif f.category == "slow_first_response":
            out.add("slow_first_response")
    if scored.score.escalation:
        out.add("escalation")
    return frozenset(out)


def unverified_checks(scored: ScoredConversation) -> frozenset[str]:
    """The step checks said only where the speaker is unknown (or in an echo of the prompt): unverified, so not
    passed; :func:`verdicts` leaves them out, and the bench counts them as wrong when the step was done."""
    return frozenset(s.category for s in scored.steps
                     if s.category in STEP_CHECKS and not s.passed and getattr(s, "unverified", ""))
