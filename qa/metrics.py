"""Conversation metrics from utterance timings: talk/listen, overtalk, silence, speech rate, response times."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qa.records import Conversation, Utterance

Interval = tuple[float, float]
INTERRUPTION_MIN_OVERLAP_S = 0.5


@dataclass(frozen=True, slots=True)
class Gap:
    """A mutual silence: nobody speaks from ``start`` to ``end``; ``before``/``after`` index utterances."""

    start: float
    end: float
    before: int
    after: int

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Reply:
    """An operator chat reply and how long the client waited for it."""

    utterance_idx: int
    waited_s: float
    first: bool


def merge_intervals(intervals: Sequence[Interval]) -> list[Interval]:
    """Union of time intervals, sorted."""
    merged: list[list[float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Intersection of two sorted, merged interval lists."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def total(intervals: Sequence[Interval]) -> float:
    return sum(end - start for start, end in intervals)


def speech_intervals(utterances: Sequence[Utterance], speaker: str | None = None) -> list[Interval]:
    """Merged speaking time (by words where known) of one speaker, or of everyone."""
    spans: list[Interval] = []
    for u in utterances:
        if speaker is not None and u.speaker != speaker:
            continue
        if u.words:
            spans.extend((w.start, max(w.end, w.start)) for w in u.words)
        else:
            spans.append((u.start, max(u.end, u.start)))
    return merge_intervals(spans)


def silence_gaps(utterances: Sequence[Utterance], min_gap_s: float = 0.0) -> list[Gap]:
    """Mutual silences between speech (not before the first or after the last utterance)."""
    order = sorted(range(len(utterances)), key=lambda k: (utterances[k].start, utterances[k].end))
    gaps: list[Gap] = []
    reach, reach_idx = None, None
    for k in order:
        u = utterances[k]
        if reach is not None and u.start - reach >= min_gap_s and u.start > reach:
            gaps.append(Gap(reach, u.start, reach_idx if reach_idx is not None else k, k))
        if reach is None or u.end > reach:
            reach, reach_idx = u.end, k
    return gaps


def _longest_run(utterances: Sequence[Utterance], speaker: str | None) -> float:
    """Longest stretch one speaker holds the floor (consecutive turns, the other silent)."""
    best = 0.0
    ordered = sorted(utterances, key=lambda u: u.start)
    run_speaker, run_start, run_end = None, 0.0, 0.0
    for u in ordered:
        if u.speaker == run_speaker:
            run_end = max(run_end, u.end)
        else:
            if run_speaker is not None and (speaker is None or run_speaker == speaker):
                best = max(best, run_end - run_start)
            run_speaker, run_start, run_end = u.speaker, u.start, u.end
    if run_speaker is not None and (speaker is None or run_speaker == speaker):
        best = max(best, run_end - run_start)
    return best


def interruptions(utterances: Sequence[Utterance], by: str, of: str) -> int:
    """Turns of ``by`` that start while ``of`` is speaking and overlap it by at least half a second."""
    theirs = speech_intervals(utterances, of)
    count = 0
    for u in utterances:
        if u.speaker != by:
            continue
        for start, end in theirs:
            if start < u.start < end and min(end, u.end) - u.start >= INTERRUPTION_MIN_OVERLAP_S:
                count += 1
                break
    return count


def _rate_wpm(utterances: Sequence[Utterance], speaker: str) -> float | None:
    words = sum(len(u.words) or len(u.text.split()) for u in utterances if u.speaker == speaker)
    talk = total(speech_intervals(utterances, speaker))
    return round(words / (talk / 60.0), 1) if talk > 0 else None


def call_metrics(conversation: Conversation) -> dict[str, float | None]:
    """Metrics of a call (or of an external transcript)."""
    utts = conversation.utterances
    end = max((u.end for u in utts), default=0.0)
    duration = conversation.duration_s or end
    op = speech_intervals(utts, "operator")
    cl = speech_intervals(utts, "client")
    op_talk, cl_talk = total(op), total(cl)
    both = intersect(op, cl)
    gaps = silence_gaps(utts)
    silence = total([(g.start, g.end) for g in gaps])
    talk = op_talk + cl_talk
    return {
        "duration_s": round(duration, 2),
        "operator_talk_s": round(op_talk, 2),
        "client_talk_s": round(cl_talk, 2),
        "operator_talk_share": round(op_talk / talk, 3) if talk > 0 else None,
        "talk_listen_ratio": round(op_talk / cl_talk, 3) if cl_talk > 0 else None,
        "overtalk_count": float(len([b for b in both if b[1] - b[0] >= 0.2])),
        "overtalk_s": round(total(both), 2),
        "operator_interruptions": float(interruptions(utts, "operator", "client")),
        "operator_speech_rate_wpm": _rate_wpm(utts, "operator"),
        "client_speech_rate_wpm": _rate_wpm(utts, "client"),
        "longest_operator_monologue_s": round(_longest_run(utts, "operator"), 2),
        "longest_monologue_s": round(_longest_run(utts, None), 2),
        "silence_share": round(silence / duration, 3) if duration > 0 else None,
        "longest_silence_s": round(max((g.duration for g in gaps), default=0.0), 2),
    }


def chat_replies(utterances: Sequence[Utterance]) -> list[Reply]:
    """Operator replies with the time since the first client message they answer (bots don't answer)."""
    replies: list[Reply] = []
    waiting_since: float | None = None
    first = True
    for k, u in enumerate(utterances):
        if u.speaker == "client":
            if waiting_since is None:
                waiting_since = u.start
        elif u.speaker == "operator":
            if waiting_since is not None:
                replies.append(Reply(k, u.start - waiting_since, first))
                first = False
            waiting_since = None
    return replies


def chat_metrics(conversation: Conversation) -> dict[str, float | None]:
    """Metrics of a chat: first, mean and max operator response time."""
    utts = conversation.utterances
    replies = chat_replies(utts)
    waits = [r.waited_s for r in replies]
    end = max((u.end for u in utts), default=0.0)
    return {
        "duration_s": round(conversation.duration_s or end, 2),
        "first_response_s": round(waits[0], 1) if waits else None,
        "mean_response_s": round(sum(waits) / len(waits), 1) if waits else None,
        "max_response_s": round(max(waits), 1) if waits else None,
        "operator_messages": float(sum(1 for u in utts if u.speaker == "operator")),
        "client_messages": float(sum(1 for u in utts if u.speaker == "client")),
    }


def conversation_metrics(conversation: Conversation) -> dict[str, float | None]:
    """Metrics for any conversation, by channel."""
    if conversation.channel == "chat":
        return chat_metrics(conversation)
    return call_metrics(conversation)
