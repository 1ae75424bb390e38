"""Doubts about a primed decode and the choice between it and a plain decode, on faster-whisper-shaped records."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from qa.speech.transcribe.redecode import (
    PromptTerms,
    choose_blocks,
    combine,
    confirmed,
    coverage,
    doubts,
    echo_words,
    surer_words,
    unsure_words,
)

PROMPT = PromptTerms.of(["банк Северный", "Северный банк", "Роспотребнадзор", "Центробанк", "прокуратура"])


@dataclass
class W:
    word: str
    start: float
    end: float
    probability: float = 0.9


@dataclass
class Seg:
    start: float
    end: float
    words: list[W]
    avg_logprob: float = -0.3
    no_speech_prob: float = 0.01
    text: str = ""


def seg(text: str, start: float, low: dict[str, float] | None = None, logprob: float = -0.3) -> Seg:
    low = low or {}
    words = [W(" " + w, start + 0.4 * i, start + 0.4 * i + 0.35, low.get(w, 0.9)) for i, w in enumerate(text.split())]
    return Seg(start, words[-1].end, words, logprob)


@pytest.mark.parametrize(("text", "low", "echo"), [
    ("Здравствуйте, банк Северный, оператор Максим", {}, []),  # one term said once: the brand
    ("банк Северный, Северный банк, банк Северный", {}, [0, 1, 2, 3, 4, 5]),  # the prompt's list read back
    ("по карте Центробанк, прокуратура кончатство", {}, [2, 3]),  # two terms back to back
    ("компания Телеком Плюс меня зовут", {"Плюс": 0.09}, []),  # not a prompt word here
    ("ну это Центробанк ага ну", {"ну": 0.3, "это": 0.3, "Центробанк": 0.2, "ага": 0.3}, [2]),  # unsure amid unsure
    ("я напишу в Центробанк сегодня же", {"Центробанк": 0.3}, []),  # unsure amid clear words: said
])
def test_echo_words(text, low, echo):
    assert echo_words(seg(text, 0.0, low).words, PROMPT) == echo


def test_doubts_name_loops_echoes_and_lost_voice():
    loop = seg("банк банк банк банк банк банк банк", 0.0)
    assert "loop" in doubts([loop], [], PROMPT)
    assert doubts([seg("банк Северный, Северный банк", 0.0)], [], PROMPT) == ["prompt_echo"]
    said = seg("добрый день меня зовут Анна", 0.0)
    assert doubts([said], [[0.0, 2.0]], PROMPT) == []
    assert doubts([said], [[0.0, 2.0], [5.0, 12.0]], PROMPT) == ["low_coverage"]  # 7 s of voice with no word


def test_the_decode_covering_more_voice_wins_its_stretch_and_words_heard_twice_are_confirmed():
    regions = [[0.0, 2.0], [3.0, 7.0]]
    primed = [seg("добрый день банк Северный", 0.0), seg("банк Северный банк Северный банк Северный", 3.0)]
    plain = [seg("добрый день банк северный", 0.0), seg("ничем не могу помочь это вам в полицию", 3.0)]
    choice = choose_blocks(primed, plain, regions, PROMPT)
    assert choice.segments[0] is primed[0]  # same words: the primed decode (its brand spelling) stays
    assert choice.segments[1] is plain[1]
    assert [x["kept"] for x in choice.stretches] == ["plain"] and choice.stretches[0]["why"]
    voiced, covered = coverage(plain[1].words, regions, 3.0, 7.0)
    assert voiced == pytest.approx(4.0) and covered > 3.0
    assert confirmed(plain[1].words[0], [W(" Ничем", 3.1, 3.4)])
    assert not confirmed(plain[1].words[0], [W(" ничем", 5.0, 5.3)])


def _text(segments):
    return " ".join(w.word.strip() for s in segments for w in s.words)


# Shapes seen on the tune half's noisy 8 kHz calls: the primed decode mangles a word the plain one hears, while only
# the primed one hears the brand (a prompt term, never swapped out, however unsure).
@pytest.mark.parametrize(("primed", "plain", "kept"), [
    (("Здравствуете, банк Северный, оператор Максим", {"Здравствуете,": 0.62, "Северный,": 0.43}),
     ("Здравствуйте, банк Теберный, оператор Максим", {"Здравствуйте,": 0.9, "Теберный,": 0.6}),
     "Здравствуйте, банк Северный, оператор Максим"),
    (("из -за раскрытия компания Телеком Плюс", {"из": 0.03, "-за": 0.8, "раскрытия": 0.8, "Плюс": 0.15}),
     ("Здравствуйте, компания Telecom Plus", {"Здравствуйте,": 0.73, "Telecom": 0.5, "Plus": 0.5}),
     "Здравствуйте, компания Телеком Плюс"),
    (("цена выросла", {"цена": 0.35}), ("цель на выросла", {"цель": 0.3, "на": 0.4}), "цена выросла"),  # not surer
    (("доставку дивана", {"дивана": 0.81}), ("доставку девана", {"девана": 0.95}), "доставку дивана"),  # sure enough
    (("я попал в аварию", {}), ("и я попал в аварию", {"и": 0.28}), "я попал в аварию"),  # an unsure extra word
    (("я попал в аварию", {}), ("ну я попал в аварию", {"ну": 0.7}), "ну я попал в аварию"),  # a fairly sure one
])
def test_the_words_whisper_was_surer_of_without_the_prompt_are_taken_but_never_a_prompt_term(primed, plain, kept):
    prompt = PromptTerms.of(["банк Северный", "Телеком Плюс", "Центробанк"])
    a, b = [seg(primed[0], 0.0, primed[1])], [seg(plain[0], 0.0, plain[1])]
    segments, stretches = surer_words(a, b, prompt)
    assert _text(segments) == kept
    assert bool(stretches) == (kept != primed[0])
    assert all(x["kept"] == "plain" and x["why"] == "surer without the prompt" for x in stretches)


def test_unsure_words_ask_for_a_plain_decode_and_its_record_says_what_was_swapped():
    prompt = PromptTerms.of(["Телеком Плюс"])
    sure = [seg("компания Телеком Плюс меня зовут Вера", 0.0, {"Плюс": 0.1})]  # an unsure brand word is the prompt's
    assert unsure_words(sure, prompt) == 0
    primed = [seg("Здравствуете компания Телеком Плюс", 0.0, {"Здравствуете": 0.5})]
    assert unsure_words(primed, prompt) == 1 and doubts(primed, [[0.0, 1.6]], prompt) == []
    plain = [seg("Здравствуйте компания Телекомплюс", 0.0, {"Здравствуйте": 0.8})]
    segments, stretches = combine(primed, plain, [[0.0, 1.6]], ["unsure_words"], prompt)
    assert _text(segments) == "Здравствуйте компания Телеком Плюс"
    assert stretches == [{"start": 0.0, "end": 0.35, "kept": "plain", "why": "surer without the prompt",
                          "primed": "Здравствуете", "plain": "Здравствуйте"}]


def test_the_word_before_a_span_taken_has_the_plain_decodes_punctuation():
    # a comma of the primed decode left before the span taken cut «если бы я хотел пожаловаться» in two, and the
    # complaint rule no longer saw the conditional (a false escalation on a neutral call)
    primed = [seg("Если бы я хотел, пожалуйста, я бы давно написал", 0.0, {"пожалуйста,": 0.41})]
    plain = [seg("Если бы я хотел пожаловаться, я бы давно написал", 0.0, {"пожаловаться,": 0.71})]
    segments, stretches = surer_words(primed, plain, PROMPT)
    assert _text(segments) == "Если бы я хотел пожаловаться, я бы давно написал"
    assert [(x["primed"], x["plain"]) for x in stretches] == [("пожалуйста,", "пожаловаться,")]
