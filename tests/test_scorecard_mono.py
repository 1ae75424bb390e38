"""The scorecard on mono calls (unknown speaker) and duplicate hits of one sentence, with the real rule set."""

from __future__ import annotations

from qa.records import Conversation, Utterance, Word


def call(*turns: tuple[str, float, float, str], mode: str = "stereo") -> Conversation:
    return Conversation("c", "call", "c.ogg", "0", [Utterance(*t) for t in turns], speaker_mode=mode)


def test_unknown_speaker_profanity_is_neither_deducted_nor_auto_fail(scorer):
    said = "Блядь, опять система упала."
    sure = scorer.score(call(("operator", 0, 3, said)))
    mono = scorer.score(call(("unknown", 0, 3, said), mode="mono"))
    assert any(f.rule_id == "stop_word_profanity" for f in sure.findings), sure.findings
    assert sure.score.auto_failed and sure.score.speaker_uncertain == 0
    assert any(f.rule_id == "stop_word_profanity" and f.details["speaker_uncertain"] for f in mono.findings)
    assert not mono.score.auto_failed
    assert mono.score.speaker_uncertain >= 1 and mono.score.flagged
    assert any(r.startswith("auto-fail uncertain (speaker unknown): stop_word_profanity") for r in mono.score.reasons)
    assert any(r.startswith("speaker unknown:") for r in mono.score.reasons)
    assert mono.score.total >= sure.score.total


def test_client_escalation_on_unknown_speaker_still_escalates(scorer):
    mono = scorer.score(call(("unknown", 0, 3, "Я подам на вас в суд."), mode="mono"))
    assert mono.score.escalation and mono.score.speaker_uncertain == 0


def test_one_card_per_rule_per_sentence(scorer):
    scored = scorer.score(call(("client", 0, 4, "Я хочу оставить жалобу, это официальная претензия.")))
    cards = [f for f in scored.findings if f.rule_id == "escalation_complaint"]
    assert len(cards) == 1
    assert cards[0].details["also_matched"] == ["претензия"]


def test_one_card_per_trigger_sentence_with_word_timings(scorer):
    # Whisper's word times give each phrase its own span; one sentence is still one complaint card.
    text = "Я буду жаловаться в Роспотребнадзор и подам в суд, это официальная претензия и жалоба."
    words = [Word(w, 0.4 * i, 0.4 * i + 0.35) for i, w in enumerate(text.split())]
    scored = scorer.score(Conversation("c", "call", "c.ogg", "0", [
        Utterance("client", 0.0, 0.4 * len(words), text, words=words)]))
    for rule in ("escalation_complaint", "escalation_legal_threat"):
        cards = [f for f in scored.findings if f.rule_id == rule]
        assert len(cards) == 1, (rule, cards)
    stop = scorer.score(Conversation("c", "call", "c.ogg", "0", [Utterance(
        "operator", 0.0, 4.0, "Я не знаю, ну не знаю, честно", words=[
            Word(w, 0.5 * i, 0.5 * i + 0.4) for i, w in enumerate("Я не знаю, ну не знаю, честно".split())])]))
    assert len([f for f in stop.findings if f.rule_id == "stop_word_dont_know"]) == 2  # a penalty per use


def test_same_sentence_heard_on_both_channels_is_one_card(scorer):
    text = "Позовите руководителя, немедленно."
    scored = scorer.score(call(("client", 0.0, 3.0, text), ("unknown", 0.2, 3.1, text)))
    assert len([f for f in scored.findings if f.rule_id == "escalation_manager_request"]) == 1


def test_two_sentences_keep_two_cards(scorer):
    scored = scorer.score(call(("client", 0, 3, "Я хочу оставить жалобу."), ("client", 5, 8, "И ещё одна претензия.")))
    assert len([f for f in scored.findings if f.rule_id == "escalation_complaint"]) == 2


def _as_mono(conv: Conversation) -> Conversation:
    turns = [Utterance("unknown", u.start, u.end, u.text, u.words) for u in conv.utterances]
    return Conversation(conv.conversation_id, "call", conv.source_path, "0", turns, speaker_mode="mono")


def test_never_graded_up_for_lack_of_a_speaker(scorer):
    """The client's «Здравствуйте» must not pass the operator's greeting when nobody knows who said it."""
    rude = call(("operator", 0.0, 2.0, "Да."), ("client", 3.0, 6.0, "Здравствуйте, у меня не работает интернет."),
                ("operator", 7.0, 9.0, "Перезагрузите роутер."), ("client", 10.0, 12.0, "До свидания."))
    stereo, mono = scorer.score(rude), scorer.score(_as_mono(rude))
    greeting = {s.step: s for s in mono.steps}["greeting"]
    assert not {s.step: s for s in stereo.steps}["greeting"].passed
    assert not greeting.passed and greeting.unverified.startswith("speaker unknown")
    assert mono.score.total <= stereo.score.total
    assert mono.score.unverified_steps >= 1
    assert any(r.startswith("unverified: ") and "greeting" in r for r in mono.score.reasons)


def test_a_step_said_by_a_known_speaker_still_passes_beside_unknown_turns(scorer):
    conv = call(("unknown", 0.0, 2.0, "Здравствуйте."), ("operator", 2.5, 6.0, "Добрый день, компания Телеком Плюс."))
    greeting = {s.step: s for s in scorer.score(conv).steps}["greeting"]
    assert greeting.passed and not greeting.unverified and greeting.utterance_idx == 1
