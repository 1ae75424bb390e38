"""The phrase-level second pass: ASR slips that split or merge words, and what it must not match."""

from __future__ import annotations

import pytest

from qa.records import Conversation, Utterance
from qa.rules.matching import Matcher, compile_phrase
from qa.text.analysis import analyse_text


def found(phrase: str, text: str, lemmatizer, phrase_fuzzy: int | None = 80) -> list[tuple[str, str]]:
    pattern = compile_phrase(phrase, lemmatizer, owner="r", role="match", phrase_fuzzy=phrase_fuzzy)
    tokens = analyse_text(text, lemmatizer)
    return [(h.via, " ".join(t.text for t in tokens[h.first : h.last + 1])) for h in Matcher([pattern]).find(tokens)]


@pytest.mark.parametrize(
    ("phrase", "text", "span"),
    [
        ("ничем не могу помочь", "Ниже не могу помочь, извините.", "Ниже не могу помочь"),
        ("соедините меня", "Сыдите меня с руководителем.", "Сыдите меня"),
        ("расторгнуть договор", "Хочу расстаргнуть до Говоры.", "расстаргнуть до Говоры"),
        ("расторгнуть договор", "Хочу растор гнуть договор.", "растор гнуть договор"),
    ],
)
def test_slips_across_word_boundaries(phrase, text, span, lemmatizer):
    assert found(phrase, text, lemmatizer, None) == []  # the word pass alone misses them
    assert found(phrase, text, lemmatizer) == [("fuzzy_phrase", span)]


@pytest.mark.parametrize(
    ("phrase", "text"),
    [
        ("ничем не могу помочь", "Чем могу помочь?"),  # an alignment may not drop a negation
        ("расторгнуть договор", "Я хочу растянуть разговор немного."),
        ("соедините меня", "Извините меня, пожалуйста."),
        ("ничем не могу помочь", "Сейчас не могу сказать."),
    ],
)
def test_near_misses_stay_misses(phrase, text, lemmatizer):
    assert found(phrase, text, lemmatizer) == []


def test_word_pass_hit_is_not_doubled(lemmatizer):
    assert found("расторгнуть договор", "Хочу расторгнуть договор.", lemmatizer) == [("words", "расторгнуть договор")]


def test_quoted_and_single_words_have_no_phrase_pass(lemmatizer):
    assert compile_phrase('"отключите меня"', lemmatizer, owner="r", role="m", phrase_fuzzy=80).phrase_fuzzy is None
    assert compile_phrase("жалоба", lemmatizer, owner="r", role="m", phrase_fuzzy=80).phrase_fuzzy is None


def test_finding_says_it_came_from_the_phrase_pass(scorer):
    conv = Conversation("t", "call", "t", "0", [Utterance("operator", 0, 3, "Ниже не могу помочь, обратитесь в офис.")],
                        speaker_mode="transcript")
    cards = [f for f in scorer.score(conv).findings if f.rule_id == "stop_word_cant_help"]
    assert cards and cards[0].details["match"] == "fuzzy_phrase" and cards[0].details["fuzzy_score"] >= 85
