"""Doubts about a primed decode and the choice between it and a plain decode, on faster-whisper-shaped records."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from qa.speech.transcribe.redecode import PromptTerms, choose_blocks, confirmed, coverage, doubts, echo_words

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
