"""Conversation metrics from utterance timings: talk/listen, overtalk, silence, speech rate, response times.

For calls, speaking time comes from voice activity: the Silero VAD regions of each channel that the
transcriber stores in ``transcription["stats"]["voice"]``, with the pauses inside a recognised turn
filled in. Word times are kept for quotes and speech rate. A transcript without voice regions (an
external transcript, a mono call) falls back to its turn spans.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from qa.records import Conversation, Utterance

Interval = tuple[float, float]
INTERRUPTION_MIN_OVERLAP_S = 0.5
SLOW_CALL_REPLY_S = 4.5  # the count of slow replies in call metrics (rule slow_call_reply uses the same)


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


@dataclass(frozen=True, slots=True)
class CallReply:
    """A reply in a call: ``speaker`` starts at ``start`` after the other one stopped at ``after``."""

    speaker: str
    after: float
    start: float
    utterance_idx: int | None

    @property
    def latency_s(self) -> float:
        return self.start - self.after


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


def voice_of(conversation: Conversation) -> dict[str, list[Interval]]:
    """The stored voice regions per speaker (empty when the transcriber recorded none)."""
    stats = conversation.transcription.get("stats") or {}
    voice = stats.get("voice") or {}
    return {str(k): [(float(a), float(b)) for a, b in v] for k, v in voice.items()}


def talk_intervals(
    utterances: Sequence[Utterance], voice: Sequence[Interval] | None, speaker: str
) -> list[Interval]:
    """Merged speaking time of one speaker from voice activity, pauses inside a turn filled in.

    Each turn is clipped to the voice regions it overlaps (its edges then follow the voice, not the
    word timestamps) and kept whole where no voice region overlaps it; voice regions outside every
    turn (a word ASR dropped) count as well. Without ``voice`` this is the union of the turn spans.
    """
    turns = [(u.start, max(u.end, u.start)) for u in utterances if u.speaker == speaker]
    if voice is None:
        return merge_intervals(turns)
    regions = merge_intervals(voice)
    spans: list[Interval] = list(regions)
    for start, end in turns:
        inside = [r for r in regions if r[0] < end and r[1] > start]
        spans.append((inside[0][0], inside[-1][1]) if inside else (start, end))
    return merge_intervals(spans)


def call_talk(conversation: Conversation) -> dict[str, list[Interval]]:
    """Talk intervals of the operator and the client (or ``unknown``) of a call."""
    voice = voice_of(conversation)
    utts = conversation.utterances
    speakers = dict.fromkeys([*voice, *(u.speaker for u in utts)])
    return {s: talk_intervals(utts, voice.get(s) if voice else None, s) for s in speakers}


def gaps_between(talk: Sequence[Interval], utterances: Sequence[Utterance], min_gap_s: float) -> list[Gap]:
    """Mutual silences of at least ``min_gap_s`` between merged speech ``talk`` (of everyone), each
    with the utterance that ends last before it and the one that starts first after it."""
    merged = merge_intervals(talk)
    # Before a gap: of the turns starting before its start, the one ending last (a running best over the turns
    # by start). After it: of the turns ending after its end, the one starting first (a running best from the
    # last turn by end). Ties go as before: the later-ending turn of the highest index, the earliest-starting turn
    # of the lowest.
    by_start = sorted(range(len(utterances)), key=lambda k: utterances[k].start)
    starts = [utterances[k].start for k in by_start]
    latest: list[tuple[float, int]] = []
    for k in by_start:
        here = (utterances[k].end, k)
        latest.append(here if not latest or here > latest[-1] else latest[-1])
    by_end = sorted(range(len(utterances)), key=lambda k: utterances[k].end)
    ends = [utterances[k].end for k in by_end]
    earliest: list[tuple[float, int]] = [(0.0, 0)] * len(by_end)
    for pos in range(len(by_end) - 1, -1, -1):
        k = by_end[pos]
        here = (utterances[k].start, k)
        earliest[pos] = here if pos == len(by_end) - 1 or here < earliest[pos + 1] else earliest[pos + 1]
    gaps: list[Gap] = []
    for (_, end), (start, _) in pairwise(merged):
        if start - end < min_gap_s or start <= end:
            continue
        before = bisect_left(starts, end + 1e-6)  # turns with start < end + 1e-6
        after = bisect_right(ends, start - 1e-6)  # turns with end > start - 1e-6 from here on
        if not before or after == len(ends):
            continue
        gaps.append(Gap(end, start, latest[before - 1][1], earliest[after][1]))
    return gaps


def call_gaps(conversation: Conversation, min_gap_s: float = 0.0) -> list[Gap]:
    """Mutual silences of a call, edged by voice activity where it was recorded."""
    return _gaps(conversation, call_talk(conversation), min_gap_s)


def _gaps(conversation: Conversation, talk: dict[str, list[Interval]], min_gap_s: float) -> list[Gap]:
    """Mutual silences between the merged ``talk`` where voice was recorded, else between the turns."""
    if not voice_of(conversation):
        return silence_gaps(conversation.utterances, min_gap_s)
    return gaps_between([iv for ivs in talk.values() for iv in ivs], conversation.utterances, min_gap_s)


@dataclass(frozen=True, slots=True)
class CallTimeline:
    """What the metrics and the checks of one call both read, worked out once: talk per speaker, every mutual
    silence, and the replies both ways between operator and client."""

    talk: dict[str, list[Interval]]
    gaps: tuple[Gap, ...]
    replies: dict[tuple[str, str], list[CallReply]]

    def gaps_of_at_least(self, min_gap_s: float) -> list[Gap]:
        """The silences of ``min_gap_s`` or more (what ``call_gaps`` gives for that minimum)."""
        return [g for g in self.gaps if g.end - g.start >= min_gap_s]


def call_timeline(conversation: Conversation) -> CallTimeline:
    """Talk, silences and replies of a call (see :class:`CallTimeline`)."""
    utts = conversation.utterances
    talk = call_talk(conversation)
    pairs = (("operator", "client"), ("client", "operator"))
    return CallTimeline(talk, tuple(_gaps(conversation, talk, 0.0)),
                        {(by, to): replies(talk, utts, by, to) for by, to in pairs})


def replies(talk: dict[str, list[Interval]], utterances: Sequence[Utterance], by: str, to: str) -> list[CallReply]:
    """Each time ``by`` starts speaking after ``to`` was the last to speak (no overlap): a reply."""
    events = sorted([(s, e, by) for s, e in talk.get(by, [])] + [(s, e, to) for s, e in talk.get(to, [])])
    out: list[CallReply] = []
    turns = [(k, u.start, u.end) for k, u in enumerate(utterances) if u.speaker == by]
    done = 0  # turns[:done] ended before an earlier event started, so before every later one (events by start)
    last_by = last_to = float("-inf")
    for start, end, who in events:
        if who == by:
            if last_to > last_by and start > last_to:
                while done < len(turns) and not turns[done][2] > start - 1e-6:
                    done += 1
                idx = next((k for k, u_start, u_end in turns[done:] if u_end > start - 1e-6 and u_start < end + 1e-6),
                           None)
                out.append(CallReply(by, last_to, start, idx))
            last_by = max(last_by, end)
        else:
            last_to = max(last_to, end)
    return out


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


def interruptions(
    utterances: Sequence[Utterance], by: str, of: str, theirs: Sequence[Interval] | None = None
) -> int:
    """Turns of ``by`` that start while ``of`` is speaking and overlap it by at least half a second;
    ``theirs`` is the talk of ``of`` (by default, from its words)."""
    theirs = speech_intervals(utterances, of) if theirs is None else theirs
    # A turn counts when some interval starts before it and both it and that interval run on for the minimum
    # overlap after its start: with the intervals sorted by start, the furthest end so far is enough.
    ordered = sorted(theirs)
    starts = [start for start, _ in ordered]
    reach: list[float] = []
    for _, end in ordered:
        reach.append(max(reach[-1], end) if reach else end)
    count = 0
    for u in utterances:
        if u.speaker != by or u.end - u.start < INTERRUPTION_MIN_OVERLAP_S:
            continue
        before = bisect_left(starts, u.start)  # intervals starting strictly before the turn
        if before and reach[before - 1] - u.start >= INTERRUPTION_MIN_OVERLAP_S:
            count += 1
    return count


def _rate_wpm(utterances: Sequence[Utterance], speaker: str) -> float | None:
    words = sum(len(u.words) or len(u.text.split()) for u in utterances if u.speaker == speaker)
    talk = total(speech_intervals(utterances, speaker))
    return round(words / (talk / 60.0), 1) if talk > 0 else None


def _latency_figures(prefix: str, found: Sequence[CallReply]) -> dict[str, float | None]:
    waits = [r.latency_s for r in found]
    return {
        f"{prefix}_reply_latency_mean_s": round(sum(waits) / len(waits), 2) if waits else None,
        f"{prefix}_reply_latency_max_s": round(max(waits), 2) if waits else None,
        f"{prefix}_replies": float(len(waits)),
        f"{prefix}_slow_replies": float(sum(w > SLOW_CALL_REPLY_S for w in waits)),
    }


def call_metrics(conversation: Conversation, timeline: CallTimeline | None = None) -> dict[str, float | None]:
    """Metrics of a call (or of an external transcript); ``timeline``: its :func:`call_timeline`, if at hand."""
    utts = conversation.utterances
    end = max((u.end for u in utts), default=0.0)
    duration = conversation.duration_s or end
    timeline = timeline or call_timeline(conversation)
    talk = timeline.talk
    op = talk.get("operator", [])
    cl = talk.get("client", [])
    op_talk, cl_talk = total(op), total(cl)
    both = intersect(op, cl)
    gaps = timeline.gaps
    silence = total([(g.start, g.end) for g in gaps])
    spoken = op_talk + cl_talk
    return {
        "duration_s": round(duration, 2),
        "operator_talk_s": round(op_talk, 2),
        "client_talk_s": round(cl_talk, 2),
        "operator_talk_share": round(op_talk / spoken, 4) if spoken > 0 else None,
        "talk_listen_ratio": round(op_talk / cl_talk, 3) if cl_talk > 0 else None,
        "overtalk_count": float(len([b for b in both if b[1] - b[0] >= 0.2])),
        "overtalk_s": round(total(both), 2),
        "operator_interruptions": float(interruptions(utts, "operator", "client", cl)),
        "operator_speech_rate_wpm": _rate_wpm(utts, "operator"),
        "client_speech_rate_wpm": _rate_wpm(utts, "client"),
        "longest_operator_monologue_s": round(_longest_run(utts, "operator"), 2),
        "longest_monologue_s": round(_longest_run(utts, None), 2),
        "silence_share": round(silence / duration, 3) if duration > 0 else None,
        "longest_silence_s": round(max((g.duration for g in gaps), default=0.0), 2),
        **_latency_figures("operator", timeline.replies["operator", "client"]),
        **_latency_figures("client", timeline.replies["client", "operator"]),
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


def conversation_metrics(conversation: Conversation,
                         timeline: CallTimeline | None = None) -> dict[str, float | None]:
    """Metrics for any conversation, by channel (``timeline``: a call's :func:`call_timeline`, if at hand)."""
    if conversation.channel == "chat":
        return chat_metrics(conversation)
    return call_metrics(conversation, timeline)
