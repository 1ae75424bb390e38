"""A hit's sentence as shown: every form of a searched lemma marked, cut around the match, personal data masked."""

from __future__ import annotations

import pytest

from qa.text.snippets import Mask, plain, snippet


@pytest.mark.parametrize(("text", "lemmas", "shown"), [
    ("Так выясните! Верните деньги.", {"вернуть", "деньга"}, "Так выясните! [Верните] [деньги]."),
    ("Мне вернули денег меньше.", {"вернуть", "деньга"}, "Мне [вернули] [денег] меньше."),
    ("Ёлки, верните ДЕНЬГИ", {"елка", "деньга"}, "[Ёлки], верните [ДЕНЬГИ]"),
    ("Возврат 25 рублей", {"пять", "рубль"}, "Возврат [25] [рублей]"),
    ("Ничего не нашлось", {"деньга"}, "Ничего не нашлось"),
])
def test_every_form_of_a_searched_lemma_is_marked(lemmatizer, text, lemmas, shown):
    assert plain(snippet(text, lemmas, lemmatizer)) == shown


def test_a_long_turn_is_cut_to_the_sentence_of_the_match(lemmatizer):
    text = "Добрый день. " * 20 + "Я хочу, чтобы мне вернули деньги за октябрь. " + "Спасибо. " * 40
    shown = plain(snippet(text, {"вернуть"}, lemmatizer, max_chars=120))
    assert shown.startswith("…Я хочу, чтобы мне [вернули] деньги за октябрь.") and shown.endswith("…")
    assert len(shown) <= 130
    long_sentence = " ".join(["слово"] * 80) + " верните деньги " + " ".join(["слово"] * 80)
    cut = plain(snippet(long_sentence, {"вернуть"}, lemmatizer, max_chars=100))
    assert "[верните]" in cut and cut.startswith("…") and cut.endswith("…") and len(cut) <= 110


def test_personal_data_is_replaced_and_a_masked_match_stays_marked(lemmatizer):
    text = "Меня зовут Иван Петров, верните деньги на 8 900 123 45 67"
    masks = [Mask(11, 22, "[ИМЯ]"), Mask(42, 57, "[ТЕЛЕФОН]")]
    pieces = snippet(text, {"вернуть", "иван"}, lemmatizer, masks)
    assert plain(pieces) == "Меня зовут [[ИМЯ]], [верните] деньги на [ТЕЛЕФОН]"
    assert [p.text for p in pieces if p.masked] == ["[ИМЯ]", "[ТЕЛЕФОН]"]
    assert "Иван" not in "".join(p.text for p in pieces) and "900" not in "".join(p.text for p in pieces)
