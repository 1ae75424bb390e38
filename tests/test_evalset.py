"""The evaluation set scored by the real lemmatiser and the default rule set: its halves, and the holdout target."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from qa.errors import ConversationFormatError
from qa_eval.evalset import CHECKS, load_eval_set, unverified_checks, verdicts

REPO = Path(__file__).resolve().parent.parent
EVAL = REPO / "tests" / "fixtures" / "eval"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_accuracy", REPO / "benchmarks" / "bench_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_set_is_big_enough_and_split_once():
    items = load_eval_set(EVAL)
    calls = [i for i in items if i.channel == "call"]
    chats = [i for i in items if i.channel == "chat"]
    assert len(calls) >= 40 and len(chats) >= 15
    assert len({i.id for i in items}) == len(items)
    for group in (calls, chats):
        halves = [i.half for i in group if not i.added_later]  # the split as fixed once
        assert abs(halves.count("tune") - halves.count("holdout")) <= 1
    assert all(i.half == "tune" for i in items if i.added_later)
    assert [i.id for i in calls if not i.added_later] == [f"e{n:02d}" for n in range(1, 41)]  # holdout unchanged
    teams = {i.team for i in items} | {i.sidecar.get("company") for i in items}
    assert {"team-bank", "team-shop", "team-insurance", "team-north"} <= teams
    assert any(i.mono for i in calls)


def test_holdout_from_transcripts_meets_the_target(scorer):
    bench = _bench()
    items = load_eval_set(EVAL)
    results = bench.evaluate(items, scorer)
    s = bench.summary(results, "holdout")
    assert s["right"] / s["total"] >= 0.95
    # mono transcripts (speaker "u") say no speaker: their steps are unverified, never passed (issue #19)
    known = bench.summary([(i, got) for i, got in results if not i.mono], "holdout")
    for check in ("introduction", "company"):
        c = known["counts"][check]
        assert c["fp"] + c["fn"] == 0, check
    for item in (i for i in items if i.mono and i.half == "holdout"):
        scored = scorer.score(item.conversation())
        assert unverified_checks(scored) == item.gold & {"greeting", "introduction", "company", "farewell"}


def test_verdicts_read_the_scorecard(scorer):
    [item] = [i for i in load_eval_set(EVAL) if i.id == "e02"]
    got = verdicts(scorer.score(item.conversation()))
    assert "company" not in got and {"greeting", "introduction", "farewell"} <= got
    assert got <= set(CHECKS)


def test_an_item_added_after_the_split_must_be_tune(tmp_path):
    (tmp_path / "calls.yml").write_text(
        "calls:\n  - {id: x, half: holdout, added_later: true, turns: [[o, 0, Привет]]}\n", encoding="utf-8")
    (tmp_path / "chats.yml").write_text("chats: []\n", encoding="utf-8")
    with pytest.raises(ConversationFormatError, match="added_later"):
        load_eval_set(tmp_path)


def test_a_gold_check_with_a_typo_is_refused(tmp_path):
    (tmp_path / "calls.yml").write_text(
        "calls:\n  - {id: x, half: tune, gold: [greting], turns: [[o, 0, Привет]]}\n", encoding="utf-8")
    (tmp_path / "chats.yml").write_text("chats: []\n", encoding="utf-8")
    with pytest.raises(ConversationFormatError, match="unknown checks"):
        load_eval_set(tmp_path)


def test_a_voiced_bank_call_through_real_whisper(scorer, transcript_cache):
    """e01 (team-bank, «банк Северный, оператор Максим») voiced by festival, transcribed by the real model."""
    bench = _bench()
    [item] = [i for i in load_eval_set(EVAL) if i.id == "e01"]
    path = EVAL / "audio" / "e01.ogg"
    transcriber = bench.item_transcriber(item, scorer)  # primed with the bank's names, as the pipeline does
    assert transcriber.vocabulary[:2] == ("банк Северный", "Северный банк")
    bench.AUDIO_CACHE = transcript_cache
    scored = scorer.score(bench.audio_conversation(item, path, transcriber))
    steps = {s.step: s for s in scored.steps}
    assert steps["company"].passed and "Северн" in steps["company"].reason
    assert steps["introduction"].passed and steps["introduction"].reason.startswith("name heard: «Ма")
    assert steps["company"].quote and steps["company"].start_s is not None and steps["company"].start_s < 5
