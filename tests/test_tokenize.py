"""The compiled tokenizer gives razdel's tokens exactly: literal cases, UD sentences, rule tests, random text."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from razdel import tokenize as razdel_tokenize

from qa.text.tokenize import clear_token_cache, split_tokens

REPO = Path(__file__).resolve().parents[1]


def reference(text: str) -> list[tuple[str, int, int]]:
    """razdel's own tokens (the reference the fast tokenizer must reproduce)."""
    return [(token.text, token.start, token.stop) for token in razdel_tokenize(text)]


@pytest.mark.parametrize(
    ("text", "surfaces"),
    [
        ("Здравствуйте, меня зовут Анна.", ["Здравствуйте", ",", "меня", "зовут", "Анна", "."]),
        ("что-то кто-нибудь", ["что-то", "кто-нибудь"]),
        ("чем -нибудь", ["чем", "-нибудь"]),
        ("чем, -нибудь", ["чем", ",", "-", "нибудь"]),
        ("1,5 рубля и 3.14", ["1,5", "рубля", "и", "3.14"]),
        ("пункт 1. 5 лет", ["пункт", "1.", "5", "лет"]),  # razdel joins «1.» when a number follows the space
        ("1/2 и 2-й", ["1/2", "и", "2-й"]),
        ("Что?! Ну...", ["Что", "?!", "Ну", "..."]),
        ("спасибо :) пока", ["спасибо", ":)", "пока"]),
        ("+7 (999) 123-45-67", ["+", "7", "(", "999", ")", "123-45-67"]),
        ("25% скидка", ["25", "%", "скидка"]),
        ("абв123 abcабв", ["абв", "123", "abc", "абв"]),
        ("ΔP и mβж", ["ΔP", "и", "mβж"]),
        ("Yahoo! и snake_case", ["Yahoo!", "и", "snake_case"]),
        ("«ёлочки» — тире", ["«", "ёлочки", "»", "—", "тире"]),
        ("", []),
        ("   ", []),
    ],
)
def test_literal_cases(text: str, surfaces: list[str]) -> None:
    tokens = split_tokens(text)
    assert [surface for surface, _, _ in tokens] == surfaces
    assert tokens == reference(text)
    assert all(text[start:stop] == surface for surface, start, stop in tokens)


def test_same_as_razdel_on_ud_sentences(shared_data: Path) -> None:
    texts = [
        line[len("# text = "):].rstrip("\n")
        for path in sorted((shared_data / "ud_russian").glob("*.conllu"))
        for line in path.open(encoding="utf-8")
        if line.startswith("# text = ")
    ]
    if not texts:
        pytest.skip("no UD treebank sentences found")
    assert len(texts) > 1000
    assert [split_tokens(text) for text in texts] == [reference(text) for text in texts]


def test_same_as_razdel_on_rule_tests_and_fixtures() -> None:
    texts = [
        line
        for folder in (REPO / "scripts_rules", REPO / "tests" / "fixtures" / "eval", REPO / "data" / "samples")
        for path in sorted(folder.iterdir())
        if path.suffix in (".txt", ".yml", ".json")
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assert len(texts) > 500
    assert [split_tokens(text) for text in texts] == [reference(text) for text in texts]


_ALPHABET = [
    *"аБвЁёжzZy1234567890 -‑–—−_.,/\\:;=()!?…*«»\"'%№$ΔσİıſK@#^&|~[]{}<>+`„“”‘’\u00a0\u2009\t\n",
    "yahoo", "YAHOO", ":-)", ";)", "=(((", "...", "--", "**", "1.5", "-то",
]


def test_same_as_razdel_on_random_text() -> None:
    """Short strings of the characters razdel's rules care about, cold and then warm (from the chunk table)."""
    rng = random.Random(20261203)
    texts = ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 14))) for _ in range(20_000)]
    expected = [reference(text) for text in texts]
    clear_token_cache()
    assert [split_tokens(text) for text in texts] == expected
    assert [split_tokens(text) for text in texts] == expected
