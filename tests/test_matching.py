"""Phrase matching: lemmas, gaps, word order, exact forms, fuzzy ASR slips (tables of literal Russian)."""

from __future__ import annotations

import pytest

from qa.rules.matching import Matcher, compile_phrase, similar_length
from qa.text.analysis import analyse_text


def hits(phrase: str, text: str, lemmatizer, **kw) -> list[str]:
    pattern = compile_phrase(phrase, lemmatizer, owner="r", role="match", **kw)
    tokens = analyse_text(text, lemmatizer)
    return [" ".join(t.text for t in tokens[h.first : h.last + 1]) for h in Matcher([pattern]).find(tokens)]


@pytest.mark.parametrize(
    ("phrase", "text", "found"),
    [
        ("руководитель", "Позовите вашего руководителя!", ["руководителя"]),
        ("руководитель", "Я хочу поговорить с руководителем.", ["руководителем"]),
        ("руководитель", "Передайте руководителю мою претензию.", ["руководителю"]),
        ("оставить жалобу", "Я хочу оставить жалобу.", ["оставить жалобу"]),
        ("оставить жалобу", "Я оставлю жалобы везде.", ["оставлю жалобы"]),
        ("не знаю", "Я не знаю, что сказать.", ["не знаю"]),
        ("не знаю", "Не знала об этом.", ["Не знала"]),
        ("не знаю", "Я знаю, что не так.", []),
        ("ещё вопросы", "Остались ещё вопросы?", ["ещё вопросы"]),
        ("еще вопросы", "Остались ещё вопросы?", ["ещё вопросы"]),
        ("суд", "Я подам в суд.", ["суд"]),
        ("суд", "Это судно большое, а посуда грязная.", []),
    ],
)
def test_lemma_sequences(phrase, text, found, lemmatizer):
    assert hits(phrase, text, lemmatizer) == found


@pytest.mark.parametrize(
    ("phrase", "text", "max_gap", "found"),
    [
        ("расторгнуть договор", "Хочу расторгнуть договор.", 0, ["расторгнуть договор"]),
        ("расторгнуть договор", "Хочу расторгнуть этот договор.", 0, []),
        ("расторгнуть договор", "Хочу расторгнуть этот договор.", 1, ["расторгнуть этот договор"]),
        ("расторгнуть договор", "Хочу расторгнуть этот ваш договор.", 1, []),
        ("расторгнуть договор", "Хочу расторгнуть этот ваш договор.", 2, ["расторгнуть этот ваш договор"]),
    ],
)
def test_allowed_gap(phrase, text, max_gap, found, lemmatizer):
    assert hits(phrase, text, lemmatizer, max_gap=max_gap) == found


def test_unordered_phrase_matches_either_order(lemmatizer):
    assert hits("вернуть деньги", "Деньги верните!", lemmatizer, ordered=False) == ["Деньги верните"]
    assert hits("вернуть деньги", "Деньги верните!", lemmatizer, ordered=True) == []


@pytest.mark.parametrize(
    ("phrase", "text", "fuzzy", "found"),
    [
        ("расторгнуть", "Хочу растаргнуть договор.", 90, ["растаргнуть"]),
        ("Роспотребнадзор", "Напишу в роспотребнодзор.", 90, ["роспотребнодзор"]),
        ("расторгнуть", "Хочу растаргнуть договор.", None, []),
        ("жалоба", "Напишу жалобй.", 80, ["жалобй"]),
        ("суд", "Пойду в сут.", 60, []),  # short words never match fuzzily
        ("прокуратура", "Напишу спроккуратуру.", 90, ["спроккуратуру"]),  # a letter too many: a slip
        ("пожаловаться", "Хочу жалобаться.", 80, ["жалобаться"]),  # two letters fewer: a slip
        # a word a third shorter is another word, even when its letters all occur in the phrase word in order
        # (the lemmatiser's guess «полоться» for a misheard «полис» scored 80 against «пожаловаться»)
        ("пожаловаться", "Сколько стоит полись на дачу?", 80, []),
        ("пожаловаться", "Полоться не надо.", 80, []),
        ("подождать", "Я подам заявку.", 80, []),
        ("говорить", "Мы договорились.", 80, []),
    ],
)
def test_fuzzy_fallback(phrase, text, fuzzy, found, lemmatizer):
    assert hits(phrase, text, lemmatizer, fuzzy=fuzzy) == found


@pytest.mark.parametrize(
    ("word", "key", "similar"),
    [("жалобй", "жалоба", True), ("спроккуратура", "прокуратура", True), ("полоться", "пожаловаться", False),
     ("подать", "подождать", False), ("роспотребнодзор", "роспотребнадзор", True)],
)
def test_a_fuzzy_word_is_about_as_long_as_the_phrase_word(word, key, similar):
    assert similar_length(word, key) is similar


@pytest.mark.parametrize(
    ("phrase", "text", "found"),
    [
        ('"девушка"', "Девушка, подождите.", ["Девушка"]),
        ('"девушка"', "Я передам девушке из отдела.", []),
        ("девушка", "Я передам девушке из отдела.", ["девушке"]),
        ("как * помочь", "Как я могу помочь?", []),
        ("могу * помочь", "Чем могу вам помочь?", ["могу вам помочь"]),
    ],
)
def test_exact_forms_and_wildcards(phrase, text, found, lemmatizer):
    assert hits(phrase, text, lemmatizer) == found


def test_digits_in_phrases_and_speech_match(lemmatizer):
    assert hits("двести рублей", "Это стоит 200 рублей.", lemmatizer) == ["200 рублей"]
    assert hits("450", "Номер четыреста пятьдесят.", lemmatizer) == ["четыреста пятьдесят"]


def test_one_index_serves_many_patterns(lemmatizer):
    patterns = [
        compile_phrase(p, lemmatizer, owner=f"r{i}", role="match")
        for i, p in enumerate(["не знаю", "жалоба", "руководитель", "суд"])
    ]
    tokens = analyse_text("Не знаю, напишу жалобу руководителю, потом в суд.", lemmatizer)
    owners = [h.pattern.owner for h in Matcher(patterns).find(tokens)]
    assert owners == ["r0", "r1", "r2", "r3"]


@pytest.mark.parametrize("phrase", ["*", "* помочь", "помочь *", "!!!"])
def test_bad_phrases_are_refused(phrase, lemmatizer):
    with pytest.raises(ValueError):
        compile_phrase(phrase, lemmatizer, owner="r", role="match")
