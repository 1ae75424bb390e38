"""Checks and scorecard on small literal dialogues with a rule set written in the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.records import Conversation, Utterance, Word
from qa.rules.scoring import build_scorer

RULESET = """\
name: test
company: {names: [Телеком Плюс]}
pass_mark: 80
penalties: {info: 0, low: 3, medium: 10, high: 15, critical: 30}
max_penalty_per_rule: 15
auto_fail: [mat]
flag: {categories: [escalation], min_severity: high}
"""
RULES = {
    "dont_know": """\
id: dont_know
title: не знаю
kind: stopword
category: stop_word
severity: medium
match: {phrases: [не знаю]}
unless: {phrases: [не знаю как вас благодарить]}
""",
    "mat": """\
id: mat
title: мат
kind: stopword
category: stop_word
severity: critical
match: {phrases: [блин]}
""",
    "complaint": """\
id: complaint
title: жалоба
kind: trigger
category: escalation
severity: high
speaker: client
match: {phrases: [жалоба, пожаловаться]}
unless: {phrases: [не буду жаловаться], scope: before, words: 2}
""",
    "script": """\
id: script
title: скрипт
kind: script
category: script
severity: medium
steps:
  - {id: greeting, title: Привет, category: greeting, phrases: [здравствуйте], window: {first_s: 10}, weight: 50}
  - {id: company, title: Компания, category: company, phrases: ["{company}"], window: {first_s: 10}, weight: 25}
  - {id: hold, title: Ожидание, category: hold, phrases: [оставайтесь на линии], optional: true}
  - {id: thanks, title: Спасибо, category: thanks_for_waiting, phrases: [спасибо за ожидание], weight: 25,
     applies_after: hold}
""",
    "dead_air": """\
id: dead_air
title: тишина
kind: silence
category: silence
severity: medium
speaker: any
silence: {min_gap_s: 8, hold_phrases: [оставайтесь на линии], hold_lookback_s: 10}
""",
    "slow_first": """\
id: slow_first
title: медленный первый ответ
kind: metric
category: slow_first_response
severity: medium
channels: [chat]
metric: {name: first_response_s, above: 120}
""",
}


@pytest.fixture(scope="module")
def small_scorer(tmp_path_factory, lemmatizer):
    folder: Path = tmp_path_factory.mktemp("rules")
    (folder / "ruleset.yml").write_text(RULESET, encoding="utf-8")
    for rule_id, text in RULES.items():
        (folder / f"{rule_id}.yml").write_text(text, encoding="utf-8")
    return build_scorer(folder, lemmatizer)


def call(*turns: tuple[str, float, float, str], channel: str = "call") -> Conversation:
    return Conversation("c1", channel, "mem", "", [Utterance(s, a, b, t) for s, a, b, t in turns],  # type: ignore[arg-type]
                        speaker_mode="transcript")


def test_compliant_call_scores_full_marks(small_scorer):
    scored = small_scorer.score(call(
        ("operator", 0.5, 4.0, "Здравствуйте, компания Телеком Плюс."),
        ("client", 4.5, 6.0, "Добрый день."),
    ))
    assert scored.findings == []
    assert {s.step: (s.passed, s.applicable) for s in scored.steps} == {
        "greeting": (True, True), "company": (True, True), "hold": (False, False), "thanks": (False, False)}
    assert scored.score.total == 100 and scored.score.passed and not scored.score.flagged


def test_step_outside_its_window_fails_with_a_reason(small_scorer):
    scored = small_scorer.score(call(("client", 0, 11, "Алло."), ("operator", 12, 14, "Здравствуйте, Телеком Плюс.")))
    greeting = next(s for s in scored.steps if s.step == "greeting")
    assert not greeting.passed and "first 10 s" in greeting.reason
    assert scored.score.total == 0 and "missed step: greeting" in scored.score.reasons


def test_conditional_step_applies_only_after_its_anchor(small_scorer):
    turns = [("operator", 0.5, 4, "Здравствуйте, Телеком Плюс."), ("operator", 5, 7, "Оставайтесь на линии.")]
    missing = small_scorer.score(call(*turns))
    thanks = next(s for s in missing.steps if s.step == "thanks")
    assert thanks.applicable and not thanks.passed and missing.score.total == 75
    done = small_scorer.score(call(*turns, ("operator", 9, 11, "Спасибо за ожидание.")))
    assert next(s for s in done.steps if s.step == "thanks").passed and done.score.total == 100


def test_stop_word_counts_for_the_operator_only_and_respects_unless(small_scorer):
    scored = small_scorer.score(call(
        ("operator", 0.5, 4, "Здравствуйте, Телеком Плюс."),
        ("client", 5, 7, "Я не знаю, что делать."),
        ("operator", 8, 10, "Я не знаю."),
        ("operator", 11, 13, "Не знаю, как вас благодарить!"),
    ))
    assert [(f.rule_id, f.utterance_idx, f.speaker) for f in scored.findings] == [("dont_know", 2, "operator")]
    assert scored.findings[0].quote == "Я не знаю."
    assert scored.score.total == 90 and scored.score.passed


def test_penalties_are_capped_per_rule(small_scorer):
    turns = [("operator", 0.5, 4, "Здравствуйте, Телеком Плюс.")]
    turns += [("operator", 5.0 + i, 5.5 + i, "Не знаю.") for i in range(5)]
    scored = small_scorer.score(call(*turns))
    assert len(scored.findings) == 5 and scored.score.total == 85


def test_auto_fail_and_escalation_flag(small_scorer):
    scored = small_scorer.score(call(
        ("operator", 0.5, 4, "Здравствуйте, Телеком Плюс."),
        ("client", 5, 8, "Я напишу жалобу!"),
        ("operator", 9, 10, "Блин."),
    ))
    assert scored.score.auto_failed and not scored.score.passed and scored.score.flagged
    assert scored.score.escalation
    assert any(r.startswith("auto-fail: mat") for r in scored.score.reasons)
    assert any("complaint" in r for r in scored.score.reasons)


@pytest.mark.parametrize(
    ("text", "hit"),
    [("Я буду жаловаться!", True), ("Я не буду жаловаться.", False), ("Хочу пожаловаться.", True),
     ("Не буду я молчать, буду жаловаться.", True)],
)
def test_negation_before_a_trigger_cancels_it(small_scorer, text, hit):
    scored = small_scorer.score(call(("client", 0, 3, text)))
    assert any(f.rule_id == "complaint" for f in scored.findings) is hit


def test_silence_findings_say_whether_a_hold_was_announced(small_scorer):
    scored = small_scorer.score(call(
        ("operator", 0.5, 4, "Здравствуйте, Телеком Плюс."),
        ("client", 14, 16, "Алло?"),
        ("operator", 17, 19, "Оставайтесь на линии."),
        ("operator", 30, 32, "Спасибо за ожидание."),
    ))
    silences = [f for f in scored.findings if f.rule_id == "dead_air"]
    assert [(f.start_s, f.end_s, f.details["hold_announced"], f.severity) for f in silences] == [
        (4.0, 14.0, False, "medium"), (19.0, 30.0, True, "info")]
    assert silences[0].details["duration_s"] == 10.0 and silences[0].utterance_idx == 1


def test_word_timestamps_locate_findings(small_scorer):
    words = (Word("Ну", 10.0, 10.2), Word("я", 10.3, 10.4), Word("не", 10.5, 10.6), Word("знаю.", 10.7, 11.0))
    conv = call(("operator", 10.0, 11.0, "Ну я не знаю."))
    conv.utterances[0].words = words
    [finding] = small_scorer.score(conv).findings
    assert (finding.start_s, finding.end_s) == (10.5, 11.0)


def test_mono_speaker_unknown_is_checked_but_marked_uncertain(small_scorer):
    scored = small_scorer.score(call(("unknown", 0, 3, "Здравствуйте, Телеком Плюс, не знаю.")))
    [finding] = scored.findings
    assert finding.details["speaker_uncertain"] is True and finding.speaker == "unknown"


def test_chat_first_response_ignores_the_bot(small_scorer):
    chat = call(
        ("client", 0, 0, "Здравствуйте, вопрос по счёту."),
        ("bot", 1, 1, "Оператор скоро ответит."),
        ("operator", 200, 200, "Здравствуйте, компания Телеком Плюс."),
        channel="chat",
    )
    scored = small_scorer.score(chat)
    [slow] = [f for f in scored.findings if f.rule_id == "slow_first"]
    assert slow.details["value"] == 200 and slow.utterance_idx == 2 and slow.start_s == 0
    assert scored.metrics["first_response_s"] == 200
    assert not [f for f in scored.findings if f.rule_id == "dead_air"]  # silence is for calls only


def test_a_call_is_matched_only_against_the_rules_and_steps_for_calls(scorer):
    from qa_eval.evalset import load_eval_set

    call, chat = scorer.rules.matcher_for("call"), scorer.rules.matcher_for("chat")
    chat_only = {r.id for r in scorer.rules.ruleset.active_rules() if r.channels == ["chat"]}
    assert chat_only, "the default rules have a chat-only script"
    assert not any(p.owner in chat_only for p in call.patterns)
    assert any(p.owner in chat_only for p in chat.patterns)
    assert len(call.patterns) < len(scorer.rules.matcher.patterns)
    # the same findings, steps and scores as matching every phrase of the rule set
    from dataclasses import replace

    everything = replace(scorer, rules=replace(scorer.rules, channel_matchers={}))
    items = load_eval_set(Path(__file__).parent / "fixtures" / "eval")
    assert {item.channel for item in items} == {"call", "chat"}
    for item in items:
        ours, all_phrases = scorer.score(item.conversation()), everything.score(item.conversation())
        assert (ours.findings, ours.steps, ours.score) == (all_phrases.findings, all_phrases.steps, all_phrases.score)
