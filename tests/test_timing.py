"""Call timing: interval arithmetic and metrics from voice regions (pure logic, literal timelines)."""

from __future__ import annotations

import pytest

from qa.records import Conversation, Utterance, Word
from qa.rules.metrics import (
    call_gaps,
    call_metrics,
    call_talk,
    intersect,
    merge_intervals,
    replies,
    talk_intervals,
    total,
)


def _conv(utts, voice=None, duration=None) -> Conversation:
    transcription = {"stats": {"voice": voice}} if voice is not None else {}
    return Conversation("c", "call", "c.flac", "", utterances=sorted(utts, key=lambda u: u.start),
                        duration_s=duration, transcription=transcription)


def _u(speaker, start, end, text="да") -> Utterance:
    return Utterance(speaker, start, end, text)


@pytest.mark.parametrize(("intervals", "merged"), [
    ([], []),
    ([(3, 4), (1, 2)], [(1, 2), (3, 4)]),
    ([(1, 3), (2, 5), (5, 6)], [(1, 6)]),
    ([(1, 10), (2, 3)], [(1, 10)]),
])
def test_merge_intervals(intervals, merged):
    assert merge_intervals(intervals) == merged


@pytest.mark.parametrize(("a", "b", "both"), [
    ([(0, 5)], [(4, 8)], [(4, 5)]),
    ([(0, 2), (3, 6)], [(1, 4)], [(1, 2), (3, 4)]),
    ([(0, 1)], [(1, 2)], []),
    ([], [(0, 1)], []),
])
def test_intersect(a, b, both):
    assert intersect(a, b) == both


def test_turn_pauses_filled_edges_follow_the_voice():
    # A turn 1.0–9.0 by word times; the voice says 1.2–4.0 and 5.0–8.6: talk 1.2–8.6 (pause inside filled).
    utts = [_u("operator", 1.0, 9.0)]
    talk = talk_intervals(utts, [(1.2, 4.0), (5.0, 8.6)], "operator")
    assert talk == [(1.2, 8.6)]
    assert total(talk) == pytest.approx(7.4)


def test_voice_outside_any_turn_counts_and_turn_without_voice_is_kept():
    utts = [_u("client", 10.0, 12.0)]
    talk = talk_intervals(utts, [(3.0, 3.4)], "client")  # a «да» ASR dropped; the turn VAD missed
    assert talk == [(3.0, 3.4), (10.0, 12.0)]


def test_talk_from_voice_not_from_words():
    words = (Word("здравствуйте", 0.5, 1.2), Word("слушаю", 2.5, 3.0))
    utts = [Utterance("operator", 0.5, 3.0, "здравствуйте слушаю", words), _u("client", 4.0, 6.0)]
    m = call_metrics(_conv(utts, {"operator": [[0.5, 1.3], [2.4, 3.1]], "client": [[4.0, 6.0]]}, 8.0))
    assert m["operator_talk_s"] == pytest.approx(2.6)  # 0.5–3.1 with the inner pause; words alone gave 1.2
    assert m["operator_talk_share"] == pytest.approx(2.6 / 4.6, abs=1e-4)


def test_one_word_yes_closes_a_silence():
    # ASR dropped the client's «да» at 8.5–8.9: VAD still has it, so there is no 14 s dead air.
    utts = [_u("operator", 0.0, 2.0, "оставайтесь на линии"), _u("operator", 16.0, 18.0, "спасибо")]
    without = call_gaps(_conv(utts), 8.0)
    with_voice = call_gaps(_conv(utts, {"operator": [[0.0, 2.0], [16.0, 18.0]], "client": [[8.5, 8.9]]}), 8.0)
    assert [(g.start, g.end) for g in without] == [(2.0, 16.0)]
    assert with_voice == []


def test_gap_edges_from_voice():
    utts = [_u("operator", 0.0, 2.6), _u("client", 11.8, 14.0)]  # word times overrun / start early
    gaps = call_gaps(_conv(utts, {"operator": [[0.0, 2.0]], "client": [[12.0, 14.0]]}), 3.0)
    assert [(g.start, g.end, g.before, g.after) for g in gaps] == [(2.0, 12.0, 0, 1)]


def test_replies_both_ways_and_not_after_own_turn():
    utts = [_u("operator", 0.0, 4.0), _u("client", 5.0, 8.0), _u("operator", 14.0, 16.0),
            _u("operator", 25.0, 27.0), _u("client", 27.5, 30.0)]
    talk = call_talk(_conv(utts))
    op = replies(talk, utts, "operator", "client")
    cl = replies(talk, utts, "client", "operator")
    assert [(r.after, r.start, r.utterance_idx) for r in op] == [(8.0, 14.0, 2)]  # 25.0 follows its own turn
    assert [round(r.latency_s, 2) for r in cl] == [1.0, 0.5]


def test_overlapping_reply_is_not_a_reply_but_overtalk():
    utts = [_u("client", 0.0, 5.0), _u("operator", 4.3, 8.0)]
    conv = _conv(utts)
    assert replies(call_talk(conv), utts, "operator", "client") == []
    m = call_metrics(conv)
    assert m["overtalk_s"] == pytest.approx(0.7)
    assert m["operator_replies"] == 0.0


def test_latency_metrics():
    utts = [_u("client", 0.0, 2.0), _u("operator", 3.0, 5.0), _u("client", 6.0, 8.0), _u("operator", 14.0, 15.0)]
    m = call_metrics(_conv(utts))
    assert m["operator_reply_latency_mean_s"] == pytest.approx(3.5)
    assert m["operator_reply_latency_max_s"] == pytest.approx(6.0)
    assert m["operator_replies"] == 2.0
    assert m["operator_slow_replies"] == 1.0
    assert m["client_reply_latency_mean_s"] == pytest.approx(1.0)


def test_no_voice_falls_back_to_turn_spans():
    utts = [_u("operator", 0.0, 3.0), _u("client", 4.0, 6.0)]
    m = call_metrics(_conv(utts))
    assert (m["operator_talk_s"], m["client_talk_s"]) == (3.0, 2.0)


def test_truth_turns_trimmed_to_their_signal():
    import numpy as np

    from qa_eval.timing_truth import trim_to_signal

    rate = 16000
    op = np.zeros(4 * rate, dtype=np.float32)
    op[int(1.2 * rate): int(2.5 * rate)] = 0.1  # the turn 1.0–3.0 holds sound only 1.2–2.5
    truth = _conv([_u("operator", 1.0, 3.0)], duration=4.0)
    trimmed = trim_to_signal(truth, {"operator": op})
    assert (trimmed.utterances[0].start, trimmed.utterances[0].end) == (1.2, 2.5)


def _gaps_by_scanning(talk, utts, min_gap_s):
    """The plain reading of a gap's neighbours: scan every turn (what gaps_between must agree with)."""
    out = []
    for (_, end), (start, _) in zip(merge_intervals(talk), merge_intervals(talk)[1:], strict=False):
        if start - end < min_gap_s or start <= end:
            continue
        before = [k for k, u in enumerate(utts) if u.start < end + 1e-6]
        after = [k for k, u in enumerate(utts) if u.end > start - 1e-6]
        if before and after:
            out.append((end, start, max(before, key=lambda k: (utts[k].end, k)),
                        min(after, key=lambda k: (utts[k].start, k))))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_gap_neighbours_agree_with_a_scan_of_every_turn(seed):
    import random

    from qa.rules.metrics import gaps_between

    rng = random.Random(seed)
    utts, t = [], 0.0
    for _ in range(rng.randint(1, 30)):
        t = max(0.0, t + rng.choice([-1.0, -0.2, 0.0, 0.4, 2.0, 9.0]))
        end = t + rng.choice([0.0, 0.5, 1.0, 3.0])  # ties in starts and ends on purpose
        utts.append(_u(rng.choice(["operator", "client"]), t, end))
        t = end
    talk = [(u.start + rng.choice([0.0, 0.1]), u.end + rng.choice([0.0, -0.1, 0.3])) for u in utts]
    talk += [(rng.uniform(0, t + 5), rng.uniform(0, t + 5)) for _ in range(rng.randint(0, 3))]
    talk = [(a, b) for a, b in talk if b >= a]
    for min_gap in (0.0, 1.0, 5.0):
        got = [(g.start, g.end, g.before, g.after) for g in gaps_between(talk, utts, min_gap)]
        assert got == _gaps_by_scanning(talk, utts, min_gap)


@pytest.mark.parametrize("voice", [None, {"operator": [[0.0, 2.0], [16.0, 18.0], [30.0, 31.0]],
                                          "client": [[3.0, 5.0], [21.0, 24.0]]}])
def test_a_timeline_worked_out_once_gives_what_each_function_gives(voice):
    from qa.rules.metrics import call_timeline

    utts = [_u("operator", 0.0, 2.0), _u("client", 3.0, 5.0), _u("operator", 16.0, 18.0),
            _u("client", 21.0, 24.0), _u("operator", 30.0, 31.0)]
    conv = _conv(utts, voice)
    timeline = call_timeline(conv)
    for min_gap in (0.0, 2.0, 6.0, 11.0):
        assert timeline.gaps_of_at_least(min_gap) == call_gaps(conv, min_gap)
    assert len(timeline.gaps_of_at_least(6.0)) == 2  # 5→16 and 24→30; 18→21 is shorter
    assert timeline.talk == call_talk(conv)
    assert timeline.replies["operator", "client"] == replies(call_talk(conv), utts, "operator", "client")
    assert call_metrics(conv, timeline) == call_metrics(conv)
