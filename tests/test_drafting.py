"""A search as a draft rule: the query's shapes become phrases, gaps and exceptions; marked sentences become the test
file; a draft is sharpened (negation, exception words) until its tests pass, or refused in Russian."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from qa.rules.drafting import DraftChoices, DraftError, Example, draft_rule, query_phrases, rule_document
from qa.text.search_query import parse_query

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("drafting") / "rules"
    shutil.copytree(REPO / "scripts_rules", folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


@pytest.mark.parametrize(("query", "phrases", "gap", "ordered", "unless"), [
    ("вернуть деньги", ["вернуть деньги"], 10, False, []),
    ('"верните деньги"', ["верните деньги"], 0, True, []),
    ("«вернуть деньги»~3", ["вернуть деньги"], 3, False, []),
    ("суд OR жалоба", ["суд", "жалоба"], 0, True, []),
    ("(суд OR жалоба) деньги", ["суд деньги", "жалоба деньги"], 10, False, []),
    ("деньги -спасибо NOT «большое спасибо»", ["деньги"], 0, True, ["спасибо", "большое спасибо"]),
])
def test_query_shapes_become_phrases_gaps_and_exceptions(lemmatizer, query, phrases, gap, ordered, unless):
    assert query_phrases(parse_query(query, lemmatizer)) == (phrases, gap, ordered, unless)


def test_the_rule_file_is_valid_and_echoes_the_choices(lemmatizer):
    doc = rule_document(parse_query("вернуть деньги", lemmatizer, fuzzy=True),
                        DraftChoices("refund_request", "Возврат", speaker="operator", severity="high"))
    assert (doc["kind"], doc["speaker"], doc["severity"], doc["status"]) == ("stopword", "operator", "high",
                                                                             "experimental")
    assert doc["match"]["fuzzy"] == 80 and yaml.safe_load(yaml.safe_dump(doc, allow_unicode=True)) == doc


def test_a_wrong_negated_example_switches_the_negation_check_on(lemmatizer, rules):
    examples = [Example("Верните мне деньги немедленно.", "client", "call", True),
                Example("Я не требую вернуть деньги, просто спрашиваю.", "client", "call", False)]
    draft = draft_rule(parse_query("вернуть деньги", lemmatizer), examples,
                       DraftChoices("refund_draft", "Возврат", speaker="client"), rules, lemmatizer)
    assert draft.result.ok and "negation: true" in draft.yaml_text
    assert draft.notes == ["включена проверка отрицаний (negation: true)"]


@pytest.mark.parametrize(("query", "examples", "choices", "message"), [
    ("вернуть деньги", [Example("Верните деньги.", "client", "chat", False)], {}, "хотя бы один"),
    ("(суд -деньги) OR жалоба", [Example("Подам в суд.", "client", "chat", True)], {}, "внутри скобок"),
    ("вернуть деньги", [Example("Деньги вернём.", "operator", "chat", True)], {"speaker": "client"},
     "не та сторона"),
    ("вернуть деньги", [Example("Верните деньги, пожалуйста.", "client", "chat", True),
                        Example("Верните деньги.", "client", "chat", False)], {}, "не отличает"),
    ("деньги", [Example("Деньги.", "client", "chat", True)], {"rule_id": "Деньги"}, "Идентификатор правила"),
    ("деньги", [Example("Деньги.", "client", "chat", True)], {"severity": "urgent"}, "Важность"),
])
def test_drafts_that_cannot_be_made_are_refused_in_russian(lemmatizer, rules, query, examples, choices, message):
    picked = {"rule_id": "refund_draft", "title": "Возврат", "speaker": "any", **choices}
    with pytest.raises(DraftError) as error:
        draft_rule(parse_query(query, lemmatizer), examples, DraftChoices(**picked), rules, lemmatizer)
    assert message in str(error.value)
