"""Brands and introductions in the script steps: tables of literal Russian through the real lemmatiser and rule set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qa.errors import ConversationFormatError, RuleFileError
from qa.inbox.inputs import discover_file, read_chat, read_sidecar
from qa.records import Conversation, Utterance
from qa.rules.ruleset import load_ruleset
from qa.rules.scoring import build_scorer

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "scripts_rules"


def _steps(scorer, lines: list[str], team: str | None = None, **metadata):
    utts = [Utterance("operator", i * 3.0, i * 3.0 + 2.5, text) for i, text in enumerate(lines)]
    conv = Conversation("t", "call", "t.wav", "0", utts, team=team, metadata=metadata)
    scored = scorer.score(conv)
    return {s.step: s for s in scored.steps}, scored.findings


# (what the operator said, team, sidecar fields, company step passes, brand heard or None)
BRANDS = [
    ("Добрый день, банк Северный, чем могу помочь?", "team-bank", {}, True, "банк Северный"),
    ("Добрый день, Северный банк, слушаю вас.", "team-bank", {}, True, "Северный банк"),
    ("Добрый день, компания Телеком Плюс, слушаю вас.", "team-bank", {}, False, None),
    ("Здравствуйте, компания Телеком Плюс.", "team-north", {}, True, "Телеком Плюс"),
    ("Здравствуйте, интернет-магазин Домовой.", "team-shop", {}, True, "Домовой"),
    ("Здравствуйте, страховая компания Надёжный щит.", None, {"company": "insurance"}, True, "Надёжный щит"),
    ("Здравствуйте, страховая компания Надежный щит.", "team-north", {"company": "Надёжный щит"}, True,
     "Надежный щит"),
    ("Здравствуйте, компания Телеком Плюс.", "team-north", {"company": "Надёжный щит"}, False, None),
    ("Здравствуйте, Домовой.", None, {"line": "shop-orders"}, True, "Домовой"),
    ("Здравствуйте, агентство Ромашка.", None, {"company": "Ромашка"}, True, "Ромашка"),
    ("Здравствуйте, слушаю вас.", "team-bank", {}, False, None),
]


@pytest.mark.parametrize(("said", "team", "meta", "ok", "heard"), BRANDS)
def test_company_step_passes_only_for_the_right_brand(scorer, said, team, meta, ok, heard):
    steps, findings = _steps(scorer, [said], team, **meta)
    company = steps["company"]
    assert company.passed is ok, company.reason
    if heard:
        assert heard in company.reason
    wrong = [f for f in findings if f.details.get("problem") == "named another brand"]
    assert bool(wrong) is ("Телеком Плюс" in said and not ok)


def test_another_brand_is_a_finding_with_the_brand_heard(scorer):
    steps, findings = _steps(scorer, ["Добрый день, компания Телеком Плюс, меня зовут Анна."], "team-bank")
    assert "named another brand «Телеком Плюс», not «банк Северный»" in steps["company"].reason
    [wrong] = [f for f in findings if f.rule_id == "script_inbound"]
    assert wrong.details["brand_heard"] == "Телеком Плюс" and wrong.details["brand_expected"] == "банк Северный"


# With no brand configured at all, any «<organisation noun> <Name>» counts.
ORGS = [
    ("Здравствуйте, компания Телеком Плюс, меня зовут Анна.", True, "Телеком Плюс"),
    ("Добрый день, интернет-магазин Домовой, слушаю вас.", True, "Домовой"),
    ("Добрый день, страховая компания Надёжный щит.", True, "Надёжный"),
    ("Добрый день, банк «Северный».", True, "Северный"),
    ("Добрый день, наша компания вас слушает.", False, None),
    ("Добрый день, слушаю вас.", False, None),
]


@pytest.fixture(scope="module")
def unbranded_scorer(tmp_path_factory, lemmatizer):
    folder = tmp_path_factory.mktemp("rules") / "rules"
    shutil.copytree(RULES, folder)
    text = (folder / "ruleset.yml").read_text(encoding="utf-8")
    start = text.index("  names: [Телеком Плюс]")
    end = text.index("  # Без бренда")
    (folder / "ruleset.yml").write_text(text[:start] + text[end:], encoding="utf-8")
    assert load_ruleset(folder).settings.company.brands == {}
    return build_scorer(folder, lemmatizer)


@pytest.mark.parametrize(("said", "ok", "heard"), ORGS)
def test_without_brands_an_organisation_must_be_named(unbranded_scorer, said, ok, heard):
    steps, _ = _steps(unbranded_scorer, [said])
    assert steps["company"].passed is ok, steps["company"].reason
    if heard:
        assert f"organisation heard: «{heard}»" == steps["company"].reason


# (what the operator said, operator_name from the sidecar or None, introduction passes, name heard)
INTRODUCTIONS = [
    ("Здравствуйте, оператор Максим, слушаю вас.", None, True, "Максим"),
    ("Добрый день, администратор Елена.", None, True, "Елена"),
    ("Добрый день, специалист Анна, чем могу помочь?", None, True, "Анна"),
    ("Добрый день, это Ольга, компания Телеком Плюс.", None, True, "Ольга"),
    ("Добрый день, меня зовут Сергей.", None, True, "Сергей"),
    ("Добрый день, консультант Дмитрий.", "Дмитрий", True, "Дмитрий"),
    ("Добрый день, меня зовут Саша.", "Александр", True, "Саша"),
    ("Добрый день, оператор Настя.", "Анастасия", True, "Настя"),
    ("Добрый день, меня зовут Игорь.", "Александр", False, None),
    ("Добрый день, оператор слушает.", None, False, None),
    ("Добрый день, это правда срочно.", None, False, None),
    ("Добрый день, специалист по тарифам вас слушает.", None, False, None),
    ("Добрый день, с вами говорит оператор.", "Ольга", True, None),
    ("Здравствуете банк Северный, оператор Макцем, чем могу помочь.", "Максим", True, "Макцем"),
    ("Здравствуете банк Северный, оператор Макцем, чем могу помочь.", None, False, None),
    ("Добрый день, оператор Ивлев.", "Максим", False, None),
]


@pytest.mark.parametrize(("said", "own", "ok", "heard"), INTRODUCTIONS)
def test_introduction_needs_a_name_after_a_role_noun(scorer, said, own, ok, heard):
    meta = {"operator_name": own} if own else {}
    steps, _ = _steps(scorer, [said], **meta)
    step = steps["introduction"]
    assert step.passed is ok, step.reason
    if heard:
        assert step.reason == f"name heard: «{heard}»"


def test_someone_elses_name_says_whose(scorer):
    steps, _ = _steps(scorer, ["Добрый день, меня зовут Игорь."], operator_name="Александр")
    assert steps["introduction"].reason == "introduced as «Игорь», not «Александр»"


# --- bad input -----------------------------------------------------------------------------------------


def _ruleset_with(tmp_path: Path, brands: str) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    text = (folder / "ruleset.yml").read_text(encoding="utf-8")
    start = text.index("  brands:")
    end = text.index("  # Без бренда")
    (folder / "ruleset.yml").write_text(text[:start] + brands + text[end:], encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("brands", "field", "problem"),
    [
        ("  brands:\n    bank: {names: []}\n", "company.brands.bank.names", "at least 1"),
        ("  brands:\n    bank: {teams: [team-bank]}\n", "company.brands.bank.names", "Field required"),
        ("  brands:\n    bank: {names: [' ']}\n", "company.brands.bank.names", "blank"),
        ("  brands:\n    bank: {names: [Северный], tems: [team-bank]}\n", "company.brands.bank.tems", "unknown field"),
        ("  brands:\n    bank: {names: [Северный], team: [team-bank]}\n", "company.brands.bank.team", "unknown field"),
        ("  brands:\n    bank: {names: [Северный], teams: [[team-bank]]}\n", "company.brands.bank.teams.0",
         "string"),
        ("  brands:\n    bank: Северный\n", "company.brands.bank", "dictionary"),
        ("  brands:\n    a: {names: [А], teams: [t1]}\n    b: {names: [Б], teams: [t1]}\n", "company",
         "already speaks for brand 'a'"),
    ],
)
def test_a_broken_brand_map_names_file_and_field(tmp_path, brands, field, problem):
    folder = _ruleset_with(tmp_path, brands)
    with pytest.raises(RuleFileError) as err:
        load_ruleset(folder)
    assert err.value.field == field and problem in str(err.value)
    assert "ruleset.yml" in str(err.value)


@pytest.mark.parametrize("key", ["company", "operator_name", "line", "queue"])
def test_a_company_that_is_not_a_string_is_refused(tmp_path, key):
    call = tmp_path / "c1.wav"
    call.write_bytes(b"")
    side = tmp_path / "c1.json"
    side.write_text(json.dumps({key: ["Северный"]}), encoding="utf-8")
    with pytest.raises(ConversationFormatError) as err:
        read_sidecar(call, side)
    assert "c1.json" in str(err.value) and f"field '{key}' must be a string" in str(err.value)
    chat = tmp_path / "x.chat.json"
    chat.write_text(json.dumps({key: 5, "messages": [{"at": "2026-01-01T10:00:00", "role": "client",
                                                      "text": "Привет"}]}), encoding="utf-8")
    with pytest.raises(ConversationFormatError, match=f"field '{key}' must be a string"):
        read_chat(discover_file(chat))


def test_sidecar_company_and_name_reach_the_conversation(tmp_path):
    call = tmp_path / "c2.wav"
    call.write_bytes(b"")
    side = tmp_path / "c2.json"
    side.write_text(json.dumps({"company": "Домовой", "operator_name": "Елена"}), encoding="utf-8")
    info = read_sidecar(call, side)
    assert info.metadata["company"] == "Домовой" and info.metadata["operator_name"] == "Елена"


@pytest.mark.parametrize(("said", "team", "passes"), [
    ("Добрый день, компания Телекомплюз, меня зовут Алексей.", "team-north", True),  # fused by Whisper
    ("Здравствуйте, компания Telecom Plus. Меня зовут Наталья.", "team-north", True),  # written in Latin
    ("Добрый день, банк Severny, оператор Максим.", "team-bank", True),
    ("Добрый день, компания Телефонплюс, меня зовут Алексей.", "team-north", False),  # another word
    ("Здравствуйте, страховая компания, и надежный счет, меня зовут Марина.", "team-insurance", False),
])
def test_a_brand_heard_fused_or_in_latin(scorer, said, team, passes):
    conv = Conversation("c", "call", "c.wav", "0", [Utterance("operator", 0.0, 4.0, said)], team=team)
    company = {s.step: s for s in scorer.score(conv).steps}["company"]
    assert company.passed is passes, company.reason
