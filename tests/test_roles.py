"""Which voice of a mono call is the operator, from what each says (qa/speech/data/roles_ru.json): a table of
literal Russian, pure logic (the voices themselves are told apart in test_mono_calls.py)."""

from __future__ import annotations

import pytest

from qa.speech.diarize.roles import RoleCues, decide_roles

BRANDS = ("Телеком Плюс",)
OPERATOR = "Компания Телеком Плюс, меня зовут Ольга, чем могу помочь?"
CLIENT = "Здравствуйте, у меня не работает интернет, я хочу узнать почему."


@pytest.mark.parametrize(("texts", "first", "hints", "operator"), [
    ((OPERATOR, CLIENT), 0, {}, 0),
    ((CLIENT, OPERATOR), 1, {}, 1),
    # the client speaks first (an outbound call answered) and greets too: what is said still decides
    (("Алло, да, слушаю. Я по поводу заявки, мне нужна справка.", "Добрый день, это оператор банка, уточните "
      "пожалуйста номер договора."), 0, {"direction": "outbound"}, 1),
    # the sidecar's operator name heard after an introduction cue
    (("Да, добрый день.", "Добрый день, это Максим."), 0, {"operator_name": "Максим"}, 1),
    # the brand the call was primed with, greeted
    (("Телеком Плюс, добрый день.", "Добрый день."), 1, {}, 0),
])
def test_the_operator_is_the_voice_that_greets_with_the_brand_and_introduces_itself(texts, first, hints, operator):
    decision = decide_roles(texts, first, hints, BRANDS)
    assert decision.operator_voice == operator, decision
    assert 0.5 < decision.confidence <= 1.0 and not decision.reason


@pytest.mark.parametrize(("texts", "hints"), [
    (("Да.", "Хорошо."), {}),
    (("Да.", "Хорошо."), {"direction": "inbound"}),  # who spoke first alone does not tell
    (("Добрый день.", "Добрый день."), {"operator_name": "Максим"}),  # the name never heard
])
def test_too_little_evidence_leaves_the_roles_unknown_with_the_reason(texts, hints):
    decision = decide_roles(texts, 0, hints, BRANDS)
    assert decision.operator_voice is None and decision.confidence == 0.5
    assert "does not tell the operator" in decision.reason


def test_the_cues_are_data():
    cues = RoleCues.parse({"operator": {"how may i help*": 3}, "client": {"my order": 2},
                           "hints": {"operator_name_after": ["this is"], "operator_name": 4}})
    decision = decide_roles(("Where is my order?", "Hello, how may I helping you?"), 0, {}, cues=cues)
    assert decision.operator_voice == 1 and decision.evidence == [{"operator": 0, "client": 2}, {"operator": 3,
                                                                                                "client": 0}]


def test_a_cue_ending_in_a_star_matches_any_word_starting_so():
    decision = decide_roles(("Позовите руководителя.", "Соедините с руководством."), 0, {})
    assert [e["client"] for e in decision.evidence] == [1.5, 0.0]  # «руководител*», not «руководством»
