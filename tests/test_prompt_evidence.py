"""No evidence from the prompt: trigger, brand and stop-word hits that may be Whisper reading its prompt back.

The two leaks of issue #19, written as fixtures of the same kind: a neutral bank call where «…они закончатся в течение
часа» came back as «Центробанк, прокуратура кончатство в течение часто», and an insurance greeting «страховая компания
Надёжный щит» that came back as «Роспотребнадёжный щит» (here, on a mono call, «Роспотребнадзор Надёжный
щит»). Each is scored with and without the prompt recorded in the transcription options, so every assertion could fail.
"""

from __future__ import annotations

import pytest

from qa.records import Conversation, Utterance, Word
from qa.rules.evidence import PromptEvidence

BANK_PROMPT = "банк Северный, Северный банк, Роспотребнадзор, Роскомнадзор, Центробанк, прокуратура"
INSURANCE_PROMPT = "Надёжный щит, Роспотребнадзор, Роскомнадзор, Центробанк, прокуратура"


def utterance(speaker: str, start: float, said: str, low: dict[str, float] | None = None) -> Utterance:
    low = low or {}
    words = [Word(w, start + 0.4 * i, start + 0.4 * i + 0.35, low.get(w.strip(",.?!"), 0.92))
             for i, w in enumerate(said.split())]
    return Utterance(speaker, words[0].start, words[-1].end, said, tuple(words))


def call(turns: list[Utterance], prompt: str | None, team: str) -> Conversation:
    options = {"initial_prompt": prompt, "hotwords": None} if prompt else {}
    return Conversation("c", "call", "c.wav", "0", turns, team=team, speaker_mode="stereo",
                        transcription={"options": options, "stats": {}})


def bank_leak(prompt: str | None) -> Conversation:
    return call([
        utterance("operator", 0.0, "Здравствуйте, банк Северный, оператор Максим, чем могу помочь?"),
        # said: «Мне пришли бонусы по карте, они закончатся в течение часа?»
        utterance("client", 5.0, "Мне пришли бонусы по карте, Центробанк, прокуратура кончатство в течение часто?",
                  {"Центробанк,": 0.41, "прокуратура": 0.38, "кончатство": 0.2}),
        utterance("operator", 11.0, "Нет, бонусы действуют до конца месяца."),
        utterance("client", 15.0, "Понял, спасибо."),
        utterance("operator", 17.0, "Всего доброго, до свидания."),
    ], prompt, "team-bank")


def insurance_leak(prompt: str | None) -> Conversation:
    """A mono call (speaker unknown, so client rules apply to every turn): the greeting «страховая компания Надёжный
    щит» heard with a prompt agency in place of «страховая компания»."""
    conv = call([
        utterance("unknown", 0.0, "Добрый день, Роспотребнадзор Надёжный щит, это Ольга.", {"Роспотребнадзор": 0.45}),
        utterance("unknown", 4.0, "Здравствуйте, я хочу продлить полис."),
        utterance("unknown", 8.0, "Конечно, продлим. Всего доброго."),
    ], prompt, "team-insurance")
    conv.speaker_mode = "mono"
    return conv


def test_the_prompt_read_back_on_a_neutral_call_is_no_legal_threat(scorer):
    heard = scorer.score(bank_leak(None))  # no prompt recorded: the words count as heard
    leak = scorer.score(bank_leak(BANK_PROMPT))
    assert heard.score.escalation, "the fixture must trigger without the prompt rule"
    threats = [f for f in leak.findings if f.rule_id == "escalation_legal_threat"]
    assert threats and all(f.details["unverified"].startswith("prompt echo") for f in threats)
    assert not leak.score.escalation
    assert leak.score.unverified_findings == len(threats)
    assert any(r.startswith("unverified: ") and "escalation_legal_threat" in r for r in leak.score.reasons)
    assert leak.score.total >= heard.score.total


def test_a_brand_fused_with_a_prompt_agency_is_no_complaint_to_it(scorer):
    heard = scorer.score(insurance_leak(None))
    leak = scorer.score(insurance_leak(INSURANCE_PROMPT))
    assert heard.score.escalation, "the fixture must trigger without the prompt rule"
    assert not leak.score.escalation
    assert [f for f in leak.findings if f.details.get("unverified")]


def test_a_prompt_term_said_clearly_is_still_heard(scorer):
    said = call([utterance("client", 0.0, "Я напишу жалобу в Центробанк, это безобразие.")], BANK_PROMPT, "team-bank")
    scored = scorer.score(said)
    assert scored.score.escalation
    assert not any(f.details.get("unverified") for f in scored.findings)


def test_the_brand_step_is_not_passed_by_a_prompt_echo(scorer):
    echo = call([utterance("operator", 0.0, "Здравствуйте, Северный банк, банк Северный, меня зовут Максим.",
                           {"Северный": 0.9})], BANK_PROMPT, "team-bank")
    clear = call([utterance("operator", 0.0, "Здравствуйте, банк Северный, меня зовут Максим.")], BANK_PROMPT,
                 "team-bank")
    company = {s.step: s for s in scorer.score(echo).steps}["company"]
    assert not company.passed and company.unverified.startswith("prompt echo")
    assert {s.step: s for s in scorer.score(clear).steps}["company"].passed


@pytest.mark.parametrize(("word", "terms"), [
    ("Центробанк,", {4}), ("прокуратура", {5}), ("Роспотребнадёжный", {2}), ("банк", {0, 1}), ("карта", set()),
])
def test_prompt_words_exactly_or_by_their_first_six_letters(word, terms):
    prompt = PromptEvidence.of(call([], BANK_PROMPT, "team-bank"))
    assert prompt is not None and set(prompt.term_ids(word)) == terms


def test_one_unsure_brand_word_in_clear_speech_is_heard(scorer):
    """«Плюс» at 0.09 in the mono sample's greeting (Whisper base, 16 kHz), every word around it above 0.7."""
    greeting = call([utterance("operator", 0.0, "Добрый день, компания Телеком Плюс, меня зовут Анна, чем могу помочь?",
                               {"Плюс": 0.09, "Телеком": 0.7})],
                    "Телеком Плюс, Роспотребнадзор, Роскомнадзор, Центробанк, прокуратура", "team-north")
    company = {s.step: s for s in scorer.score(greeting).steps}["company"]
    assert company.passed and not company.unverified


def test_a_lone_unsure_prompt_word_amid_unsure_words_is_an_echo(scorer):
    mumble = call([utterance("client", 0.0, "ну это самое прокуратура ага ну",
                             {w: 0.3 for w in ("ну", "это", "самое", "прокуратура", "ага")})], BANK_PROMPT, "team-bank")
    scored = scorer.score(mumble)
    assert not scored.score.escalation
    assert [f for f in scored.findings if f.details.get("unverified", "").startswith("prompt echo: prompt word")]
