"""natasha PER on cased text (qa.text.person_ner), and the introduction step with it: the real natasha models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qa.records import Conversation, Utterance
from qa.rules.scoring import build_scorer

RULES = Path(__file__).resolve().parent.parent / "scripts_rules"


@pytest.fixture(scope="module")
def finder():
    from qa.text.person_ner import PersonFinder

    return PersonFinder()


# (text, the words natasha must tag PER)
PERSONS = [
    ("Здравствуйте, банк Северный, оператор Максим, чем могу помочь?", {"максим"}),
    ("Здравствуете банк Северный, оператор Макцем, чем могу помочь.", {"макцем"}),
    ("Добрый день, это Ольга, компания Телеком Плюс.", {"ольга"}),
    ("Добрый день, специалист по тарифам вас слушает.", set()),
    ("добрый день, меня зовут анна", set()),  # lower case: natasha finds nothing
]


@pytest.mark.parametrize(("text", "words"), PERSONS)
def test_natasha_tags_persons_in_cased_text(finder, text, words):
    assert finder.person_words(text) == words


def test_a_span_is_our_record(finder):
    [span] = finder.persons("Добрый день, это Ольга.")
    assert (span.text, span.words()) == ("Ольга", ("ольга",))
    assert "Добрый день, это Ольга."[span.start:span.stop] == "Ольга"


# (what the operator said, introduction passes with pymorphy3 alone, with natasha PER added)
INTRODUCTIONS = [
    ("Здравствуете банк Северный, оператор Макцем, чем могу помочь.", False, True),  # an ASR slip of a name
    ("Добрый день, оператор Максим.", True, True),
    ("Добрый день, оператор слушает.", False, False),
]


@pytest.mark.parametrize(("said", "plain", "with_natasha"), INTRODUCTIONS)
def test_natasha_adds_names_pymorphy_does_not_know(scorer, lemmatizer, finder, said, plain, with_natasha):
    natasha = build_scorer(RULES, lemmatizer, finder)
    for s, expected in ((scorer, plain), (natasha, with_natasha)):
        conv = Conversation("n", "call", "n.wav", "0", [Utterance("operator", 0.0, 3.0, said)])
        steps = {x.step: x for x in s.score(conv).steps}
        assert steps["introduction"].passed is expected, steps["introduction"].reason


def test_importing_qa_does_not_load_natasha():
    code = ("import sys, qa, qa.rules.scoring, qa.rules.checks, qa.text.names, qa.text.person_ner; "
            "print('natasha' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
