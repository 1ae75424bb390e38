"""Which of two voices is the operator, from what each says (the phrases of ``qa/speech/data/roles_ru.json``).

The voice that greets with the brand and introduces itself is the operator; the one who brings the problem is the
client. Sidecar hints help: the operator's own name heard after an introduction cue, the brand the call was primed
with, and the direction (inbound: the operator speaks first; outbound: the client answers first). The evidence of
both voices is weighed; too little difference leaves the roles unknown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

_NON_WORD = re.compile(r"[^\w]+")
_NON_PHRASE = re.compile(r"[^\w*]+")  # a cue phrase keeps its trailing * (any word starting so)
MIN_EVIDENCE = 1.5  # the operator's voice must lead by this much evidence
FULL_EVIDENCE = 6.0  # a lead this large is sure


def _tokens(text: str) -> list[str]:
    return _NON_WORD.sub(" ", text.lower().replace("ё", "е")).split()


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(_NON_PHRASE.sub(" ", text.lower().replace("ё", "е")).split())


@dataclass(frozen=True)
class RoleCues:
    """Weighted phrases of each role and the weights of the sidecar hints."""

    operator: tuple[tuple[tuple[str, ...], float], ...]
    client: tuple[tuple[tuple[str, ...], float], ...]
    name_after: tuple[tuple[str, ...], ...]
    hints: dict[str, float]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> RoleCues:
        """Read the format of ``qa/speech/data/roles_ru.json``."""
        def phrases(kind: str) -> tuple[tuple[tuple[str, ...], float], ...]:
            return tuple((_phrase(p), float(w)) for p, w in data[kind].items() if _phrase(p))

        hints = dict(data.get("hints", {}))
        after = tuple(tuple(_tokens(p)) for p in hints.pop("operator_name_after", ()))
        return cls(phrases("operator"), phrases("client"), after, {k: float(v) for k, v in hints.items()})


@cache
def role_cues() -> RoleCues:
    """The packaged Russian cues (read once)."""
    text = (resources.files("qa.speech") / "data" / "roles_ru.json").read_text(encoding="utf-8")
    return RoleCues.parse(json.loads(text))


def _matches(tokens: Sequence[str], phrase: tuple[str, ...]) -> int:
    n, count = len(phrase), 0
    for i in range(len(tokens) - n + 1):
        if all(t.startswith(p[:-1]) if p.endswith("*") else t == p
               for t, p in zip(tokens[i:i + n], phrase, strict=True)):
            count += 1
    return count


def _stem(name: str) -> str:
    tokens = _tokens(name)
    return tokens[0][: max(3, len(tokens[0]) - 2)] if tokens else ""


@dataclass
class RoleDecision:
    """The operator's voice (0 or 1; None: unknown), how sure, and the evidence for each voice."""

    operator_voice: int | None
    confidence: float
    evidence: list[dict[str, float]] = field(default_factory=list)
    reason: str = ""


def decide_roles(texts: Sequence[str], first_voice: int | None, hints: Mapping[str, Any],
                 brands: Sequence[str] = (), cues: RoleCues | None = None) -> RoleDecision:
    """Which of two voices (their words as ``texts``, in time order) is the operator.

    ``first_voice`` is the voice heard first; ``hints`` may hold ``operator_name`` and ``direction``
    (``inbound``/``outbound``); ``brands`` are the names the operator's company is spoken as.
    """
    cues = cues or role_cues()
    evidence: list[dict[str, float]] = []
    for text in texts:
        tokens = _tokens(text)
        op = sum(w * min(2, _matches(tokens, p)) for p, w in cues.operator)
        cl = sum(w * min(2, _matches(tokens, p)) for p, w in cues.client)
        brand = sum(1 for b in brands if _tokens(b) and _matches(tokens, tuple(_tokens(b))))
        op += cues.hints.get("brand", 0.0) * min(1, brand)
        name = hints.get("operator_name")
        stem = _stem(name) if isinstance(name, str) else ""
        if stem and any(tokens[i + len(cue)].startswith(stem)
                        for cue in cues.name_after for i in range(len(tokens) - len(cue))
                        if tuple(tokens[i:i + len(cue)]) == cue):
            op += cues.hints.get("operator_name", 0.0)
        evidence.append({"operator": round(op, 2), "client": round(cl, 2)})
    direction = str(hints.get("direction") or "").lower()
    if first_voice is not None and direction in ("inbound", "outbound"):
        weight = cues.hints.get(f"first_speaker_{direction}", 0.0)
        first = evidence[first_voice]
        other = evidence[1 - first_voice]
        (first if direction == "inbound" else other)["operator"] = round(
            (first if direction == "inbound" else other)["operator"] + weight, 2)
    lead = [e["operator"] - e["client"] for e in evidence]
    difference = lead[0] - lead[1]
    if abs(difference) < MIN_EVIDENCE:
        return RoleDecision(None, 0.5, evidence,
                            f"what the two voices say does not tell the operator (evidence {lead[0]:g} vs {lead[1]:g})")
    voice = 0 if difference > 0 else 1
    return RoleDecision(voice, round(0.5 + 0.5 * min(1.0, abs(difference) / FULL_EVIDENCE), 3), evidence)
