"""Normalisation of Russian text and of Whisper's output: tables of literal Russian."""

from __future__ import annotations

import random

import pytest

from qa.text.normalize import is_detached_hyphen_part, normalize_text, normalize_word, split_normalized
from qa.text.tokenize import split_tokens, split_words


@pytest.mark.parametrize(
    ("token", "words"),
    [
        ("Ёлка", ["елка"]),
        ("ЁЖ", ["еж"]),
        ("ещё", ["еще"]),
        ("Привет!!!", ["привет"]),
        ("«руководитель»", ["руководитель"]),
        ("(жалобу)", ["жалобу"]),
        ("чем-нибудь", ["чем-нибудь"]),
        ("что-то", ["что-то"]),
        ("кто-либо", ["кто-либо"]),
        ("чем -нибудь", ["чем-нибудь"]),
        ("прозво\u0301нит", ["прозвонит"]),
        ("Wi-Fi", ["wi-fi"]),
        ("450", ["четыреста", "пятьдесят"]),
        ("7231", ["семь", "тысяч", "двести", "тридцать", "один"]),
        ("0", ["ноль"]),
        ("007", ["ноль", "ноль", "семь"]),
        ("450-7231", ["четыреста", "пятьдесят", "семь", "тысяч", "двести", "тридцать", "один"]),
        ("123-45-67", ["сто", "двадцать", "три", "сорок", "пять", "шестьдесят", "семь"]),
        ("2,5", ["две", "целых", "пять", "десятых"]),
        ("25%", ["двадцать", "пять", "процентов"]),
        ("1%", ["один", "процент"]),
        ("3%", ["три", "процента"]),
        ("1-й", ["первый"]),
        ("2-го", ["второй"]),
        ("2-х", ["два"]),
        ("90-х", ["девяностый"]),
        ("5-летний", ["пять", "летний"]),
        ("1\u00a0000", ["одна", "тысяча"]),
        ("COVID-19", ["covid", "девятнадцать"]),
        ("...", []),
        ("—", []),
        ("«»", []),
        ("", []),
    ],
)
def test_normalize_word(token: str, words: list[str]) -> None:
    assert normalize_word(token) == words


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ("Ёлочка, ёлка", [("Ёлочка", "елочка"), ("ёлка", "елка")]),
        ("Вы знаете чем -нибудь", [("Вы", "вы"), ("знаете", "знаете"), ("чем -нибудь", "чем-нибудь")]),
        ("Что -то сломалось", [("Что -то", "что-то"), ("сломалось", "сломалось")]),
        ("по -моему", [("по -моему", "по-моему")]),
        ("«Ёлочки»... — да", [("Ёлочки", "елочки"), ("да", "да")]),
        ("слово—слово", [("слово—слово", "слово"), ("слово—слово", "слово")]),
        (
            "Звоните: 45-72.",
            [
                ("Звоните", "звоните"),
                ("45-72", "сорок"),
                ("45-72", "пять"),
                ("45-72", "семьдесят"),
                ("45-72", "два"),
            ],
        ),
        (
            "скидка 25 %",
            [("скидка", "скидка"), ("25 %", "двадцать"), ("25 %", "пять"), ("25 %", "процентов")],
        ),
        ("OK Google", [("OK", "ok"), ("Google", "google")]),
        ("?! ... —", []),
    ],
)
def test_split_normalized(text: str, pairs: list[tuple[str, str]]) -> None:
    assert split_normalized(text) == pairs


def test_phone_number_as_whisper_writes_it() -> None:
    pairs = split_normalized("+7 (999) 123-45-67")
    assert [word for _, word in pairs] == [
        "семь",
        "девятьсот",
        "девяносто",
        "девять",
        "сто",
        "двадцать",
        "три",
        "сорок",
        "пять",
        "шестьдесят",
        "семь",
    ]
    assert {surface for surface, _ in pairs} == {"7", "999", "123-45-67"}


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("Ну, я не знаю...", "ну я не знаю"),
        ("Давайте я чем -нибудь помогу!", "давайте я чем-нибудь помогу"),
        ("Ваш номер — 450-7231?", "ваш номер четыреста пятьдесят семь тысяч двести тридцать один"),
        ("Всё ещё ждёте?", "все еще ждете"),
        ("Хотите позвать руководителя?", "хотите позвать руководителя"),
    ],
)
def test_normalize_text(text: str, normalised: str) -> None:
    assert normalize_text(text) == normalised


@pytest.mark.parametrize(
    ("token", "detached"),
    [(" -нибудь", True), ("-то", True), ("что-то", False), ("-", False), ("-5", False), ("то", False)],
)
def test_is_detached_hyphen_part(token: str, detached: bool) -> None:
    assert is_detached_hyphen_part(token) is detached


def test_split_words_offsets_and_no_punctuation() -> None:
    text = "Алло, это «Ромашка»? Да!"
    words = split_words(text)
    assert [surface for surface, _, _ in words] == ["Алло", "это", "Ромашка", "Да"]
    assert all(text[start:stop] == surface for surface, start, stop in words)
    assert len(split_tokens(text)) > len(words)


_PIECES = [*"абв ЖЁ z 7 0 - – — _ . , / % № $ « » ? ! : ) ( \u00a0 \u2009 \t".split(" "), " ", " ", " ",
           "чем", "-нибудь", "-то", "1", "25", "000", "руб", "3-й", "5-ти", "ёлка", "yahoo"]


def test_whole_chunks_give_the_same_pairs_as_token_by_token() -> None:
    """split_normalized takes most space-free chunks from a table; random text gives what tokens would."""
    from qa.text.normalize import _split_normalized, clear_caches

    rng = random.Random(7)
    texts = ["".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 12))) for _ in range(5000)]
    expected = [_split_normalized(text) for text in texts]
    clear_caches()
    assert [split_normalized(text) for text in texts] == expected
    assert [split_normalized(text) for text in texts] == expected


def test_whole_chunks_on_ud_sentences(shared_data) -> None:
    """The fast path gives the token-by-token pairs on every UD Russian test sentence."""
    from qa.text.normalize import _split_normalized

    texts = [
        line[len("# text = "):].rstrip("\n")
        for path in sorted((shared_data / "ud_russian").glob("*.conllu"))
        for line in path.open(encoding="utf-8")
        if line.startswith("# text = ")
    ]
    if not texts:
        pytest.skip("no UD treebank sentences found")
    assert [split_normalized(text) for text in texts] == [_split_normalized(text) for text in texts]
