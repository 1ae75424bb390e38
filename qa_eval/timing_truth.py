"""Call timing against a truth file: the figures the benchmark prints and the tests hold to tolerances.

A truth file lists turns (``speaker``, ``start``, ``end``) as in
``../shared/data/synthetic_call_ru/call_truth.json``; truth talk time is the union of a speaker's turns,
truth replies and silences follow from the turns by the same definitions as ours (:mod:`qa.rules.metrics`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import ConversationFormatError
from qa.records import Conversation, Utterance
from qa.rules.metrics import CallReply, Gap, call_gaps, call_metrics, call_talk, intersect, replies, total

DEAD_AIR_S = 8.0
SHORT_GAP_S = 3.0
REPLY_MATCH_S = 2.0  # a predicted reply counts for a true one when it starts this close
TRIM_THRESHOLD = 0.003  # of full scale: quieter turn edges are silence (as tools/make_samples.py trims)


@dataclass(frozen=True, slots=True)
class TimingErrors:
    """How far one timeline is from the truth (seconds unless named otherwise)."""

    talk_rel: dict[str, float]  # |talk - truth| / truth per speaker
    share_pp: float  # operator share, percentage points
    reply_errors: dict[str, list[float]]  # per replying speaker: |latency - truth| of matched replies
    replies_missed: dict[str, int]
    overtalk_s: float  # |overtalk - truth|
    dead_air_false: int  # predicted ≥ 8 s silences matching no true one
    dead_air_missed: int
    dead_air_edge_s: float  # worst edge error of matched ≥ 8 s silences
    short_gap_false: int  # the same at ≥ 3 s
    short_gap_edge_s: float

    def reply_mean(self, speaker: str) -> float | None:
        errs = self.reply_errors.get(speaker) or []
        return sum(errs) / len(errs) if errs else None

    def reply_max(self, speaker: str) -> float | None:
        errs = self.reply_errors.get(speaker) or []
        return max(errs) if errs else None


def load_truth(path: Path) -> Conversation:
    """A truth file as a conversation of exact turns (no voice regions)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        turns = [Utterance(str(t["speaker"]), float(t["start"]), float(t["end"]), str(t.get("text", "")))
                 for t in data["turns"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConversationFormatError(path, f"not a timing truth file ({exc})") from exc
    duration = float(data.get("duration") or max(t.end for t in turns))
    return Conversation(conversation_id=Path(path).stem, channel="call", source_path=str(path),
                        content_sha256="", utterances=sorted(turns, key=lambda u: u.start), duration_s=duration)


def trim_to_signal(truth: Conversation, channels: dict[str, np.ndarray], rate: int = 16000) -> Conversation:
    """The truth with each turn trimmed to its first and last sample above ``TRIM_THRESHOLD`` on its
    speaker's channel: a turn laid out with the synthesiser's own leading and trailing silence
    (``synthetic_call_ru`` keeps ~0.2 s each side) then holds the speech only, like the samples' truth."""
    turns = []
    for u in truth.utterances:
        samples = channels[u.speaker][int(u.start * rate): int(u.end * rate)]
        loud = np.flatnonzero(np.abs(samples) > TRIM_THRESHOLD)
        start, end = (u.start + loud[0] / rate, u.start + (loud[-1] + 1) / rate) if loud.size else (u.start, u.end)
        turns.append(Utterance(u.speaker, round(float(start), 3), round(float(end), 3), u.text))
    return Conversation(conversation_id=truth.conversation_id, channel="call", source_path=truth.source_path,
                        content_sha256="", utterances=turns, duration_s=truth.duration_s)


def timeline_conversation(segments: Sequence[tuple[float, float, str]], duration: float) -> Conversation:
    """Speech segments of any detector (a peer's, or truth) as a conversation scored by our metrics."""
    utts = sorted((Utterance(sp, float(a), float(b), "") for a, b, sp in segments), key=lambda u: u.start)
    return Conversation(conversation_id="timeline", channel="call", source_path="", content_sha256="",
                        utterances=utts, duration_s=duration)


def _replies(conv: Conversation) -> dict[str, list[CallReply]]:
    talk = call_talk(conv)
    return {"operator": replies(talk, conv.utterances, "operator", "client"),
            "client": replies(talk, conv.utterances, "client", "operator")}


def _gap_check(found: list[Gap], truth: list[Gap]) -> tuple[int, int, float]:
    false = sum(not any(g.start < t.end and g.end > t.start for t in truth) for g in found)
    missed = sum(not any(g.start < t.end and g.end > t.start for g in found) for t in truth)
    edge = 0.0
    for t in truth:
        for g in found:
            if g.start < t.end and g.end > t.start:
                edge = max(edge, abs(g.start - t.start), abs(g.end - t.end))
    return false, missed, edge


def compare(conv: Conversation, truth: Conversation) -> TimingErrors:
    """The errors of ``conv``'s timing (ours from voice regions, or a peer's timeline) against ``truth``."""
    ours, exact = call_metrics(conv), call_metrics(truth)
    talk_rel = {s: abs((ours[f"{s}_talk_s"] or 0.0) - exact[f"{s}_talk_s"]) / exact[f"{s}_talk_s"]
                for s in ("operator", "client") if exact[f"{s}_talk_s"]}
    share_pp = abs((ours["operator_talk_share"] or 0.0) - (exact["operator_talk_share"] or 0.0)) * 100
    mine, true = _replies(conv), _replies(truth)
    errors: dict[str, list[float]] = {}
    missed: dict[str, int] = {}
    for speaker, wanted in true.items():
        errors[speaker], missed[speaker] = [], 0
        for t in wanted:
            near = [r for r in mine[speaker] if abs(r.start - t.start) <= REPLY_MATCH_S]
            if not near:
                missed[speaker] += 1
                continue
            best = min(near, key=lambda r: abs(r.start - t.start))
            errors[speaker].append(abs(best.latency_s - t.latency_s))
    talk_c, talk_t = call_talk(conv), call_talk(truth)
    overtalk = total(intersect(talk_c.get("operator", []), talk_c.get("client", [])))
    overtalk_true = total(intersect(talk_t.get("operator", []), talk_t.get("client", [])))
    dead = _gap_check(call_gaps(conv, DEAD_AIR_S), call_gaps(truth, DEAD_AIR_S))
    short = _gap_check(call_gaps(conv, SHORT_GAP_S), call_gaps(truth, SHORT_GAP_S))
    return TimingErrors(talk_rel=talk_rel, share_pp=share_pp, reply_errors=errors, replies_missed=missed,
                        overtalk_s=abs(overtalk - overtalk_true), dead_air_false=dead[0], dead_air_missed=dead[1],
                        dead_air_edge_s=dead[2], short_gap_false=short[0], short_gap_edge_s=short[2])
