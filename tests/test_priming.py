"""Whisper is primed per conversation with the brand it speaks for (team / line / queue / sidecar company)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qa.inbox.inputs import discover_file
from qa.rules.brands import priming_terms
from qa.run.pipeline import PipelineSettings, load_conversation
from qa.speech.transcribe import Transcriber, TranscriptionOptions

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "scripts_rules"
VOCABULARY = ["Роспотребнадзор", "Роскомнадзор", "Центробанк", "прокуратура"]

# (team, sidecar fields, the brand names that lead the prompt)
PRIMING = [
    ("team-bank", {}, ["банк Северный", "Северный банк"]),
    ("team-shop", {}, ["Домовой"]),
    ("team-insurance", {}, ["Надёжный щит"]),
    ("team-north", {}, ["Телеком Плюс"]),
    (None, {"line": "bank-cards"}, ["банк Северный", "Северный банк"]),
    (None, {"queue": "shop-orders"}, ["Домовой"]),
    ("team-north", {"company": "insurance"}, ["Надёжный щит"]),
    ("team-north", {"company": "Надежный щит"}, ["Надёжный щит"]),
    ("team-bank", {"company": "Ромашка"}, ["Ромашка"]),
    ("team-unknown", {}, ["Телеком Плюс"]),  # no mapping: the default brand
    (None, {}, ["Телеком Плюс"]),
]


@pytest.mark.parametrize(("team", "meta", "names"), PRIMING)
def test_the_prompt_holds_this_conversations_brand_only(scorer, team, meta, names):
    terms = priming_terms(scorer.rules.brands, scorer.rules.ruleset.settings.vocabulary, team, meta)
    assert terms == [*names, *VOCABULARY]


def test_without_any_brand_only_the_vocabulary_primes(scorer):
    assert priming_terms(None, VOCABULARY, "team-bank", {}) == VOCABULARY


def test_the_prompt_is_echoed_and_keys_the_cache():
    bank = Transcriber(TranscriptionOptions(), ["банк Северный", "Центробанк"])
    shop = Transcriber(TranscriptionOptions(), ["Домовой", "Центробанк"])
    assert bank.priming() == {"initial_prompt": "банк Северный, Центробанк", "hotwords": None}
    hot = Transcriber(TranscriptionOptions(use_vocabulary="hotwords"), ["Домовой"])
    assert hot.priming() == {"initial_prompt": None, "hotwords": "Домовой"}
    assert Transcriber(TranscriptionOptions(use_vocabulary="none"), ["Домовой"]).priming() == {
        "initial_prompt": None, "hotwords": None}
    assert bank.cache_key(None, None) != shop.cache_key(None, None)


def test_a_prompt_template_puts_the_terms_in_a_sentence_and_keys_the_cache():
    """``prompt_template`` wraps the terms (docs/accuracy.md measures a short natural sentence); the default template,
    the terms alone, keeps the cache keys transcripts had before the option existed."""
    terms = ["банк Северный", "Центробанк"]
    plain = Transcriber(TranscriptionOptions(), terms)
    sentence = Transcriber(TranscriptionOptions(prompt_template="Разговор, упоминаются {terms}."), terms)
    assert sentence.priming()["initial_prompt"] == "Разговор, упоминаются банк Северный, Центробанк."
    assert sentence.settings()["prompt_template"] == "Разговор, упоминаются {terms}."
    assert sentence.cache_key(None, None) != plain.cache_key(None, None)
    options = plain.options.as_dict()
    del options["cpu_threads"], options["prompt_template"]
    assert plain.cache_key(None, None) == _key_without_template(options, terms)
    assert Transcriber(TranscriptionOptions(prompt_template="Разговор: {terms}."), []).priming() == {
        "initial_prompt": None, "hotwords": None}


def _key_without_template(options: dict, terms: list[str]) -> str:
    """The cache key as computed before ``prompt_template`` existed."""
    import hashlib
    import json

    from qa.speech.transcribe.transcript import CACHE_VERSION, data_digest

    payload = {"version": CACHE_VERSION, "data": data_digest(), "options": options, "vocabulary": terms,
               "channels": None, "raw": None, "hints": None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", ["roles_ru.json", "hallucinations_ru.txt"])
def test_the_packaged_word_lists_key_the_cache(name, tmp_path, monkeypatch):
    """Editing the role cues or the list of inventions changes every cache key (cached transcripts are not reused)."""
    from importlib import resources

    from qa.speech.transcribe import transcript

    data = tmp_path / "data"
    shutil.copytree(resources.files("qa.speech") / "data", data)
    transcriber = Transcriber(TranscriptionOptions(), ["банк Северный"])
    before = transcriber.cache_key(None, None, {"operator_name": "Анна"})
    monkeypatch.setattr(transcript.resources, "files", lambda package: tmp_path)
    transcript.data_digest.cache_clear()
    try:
        assert transcriber.cache_key(None, None, {"operator_name": "Анна"}) == before  # same content, same key
        with (data / name).open("a", encoding="utf-8") as handle:
            handle.write("\n")
        transcript.data_digest.cache_clear()
        assert transcriber.cache_key(None, None, {"operator_name": "Анна"}) != before
    finally:
        transcript.data_digest.cache_clear()


def test_a_bank_call_is_transcribed_with_the_bank_prompt(tmp_path, transcript_cache):
    """e01 (voiced by festival: «банк Северный, оператор Максим») through the pipeline and real Whisper."""
    call = tmp_path / "e01.ogg"
    shutil.copy(REPO / "tests" / "fixtures" / "eval" / "audio" / "e01.ogg", call)
    (tmp_path / "e01.json").write_text(json.dumps({"team": "team-bank", "operator_name": "Максим",
                                                   "channels": {"left": "operator", "right": "client"}}),
                                       encoding="utf-8")
    settings = PipelineSettings(rules_dir=str(RULES), cache_dir=str(transcript_cache))
    conv = load_conversation(discover_file(call), settings)
    options = conv.transcription["options"]
    assert options["initial_prompt"].startswith("банк Северный, Северный банк, Роспотребнадзор")
    assert "Телеком Плюс" not in options["initial_prompt"] and options["hotwords"] is None
    from qa.run.pipeline import get_scorer

    steps = {s.step: s for s in get_scorer(RULES).score(conv).steps}
    assert steps["company"].passed and "Северн" in steps["company"].reason


def test_the_rule_sets_prompt_template_reaches_the_transcriber_unless_the_environment_sets_one(tmp_path, monkeypatch):
    """ruleset.yml's ``prompt_template`` is the rule set's wording around the terms; QA_PROMPT_TEMPLATE wins."""
    from qa.rules.ruleset import load_ruleset
    from qa.run.pipeline import primed_options

    shutil.copy(RULES / "stop_word_dont_know.yml", tmp_path)
    (tmp_path / "ruleset.yml").write_text("name: t\nvocabulary: [Центробанк]\n"
                                          "prompt_template: \"Звонок, упоминаются {terms}.\"\n", encoding="utf-8")
    template = load_ruleset(tmp_path).settings.prompt_template
    monkeypatch.delenv("QA_PROMPT_TEMPLATE", raising=False)
    options = primed_options(TranscriptionOptions.from_env(), template)
    assert Transcriber(options, ["Центробанк"]).priming()["initial_prompt"] == "Звонок, упоминаются Центробанк."
    assert primed_options(TranscriptionOptions(), None) == TranscriptionOptions()
    monkeypatch.setenv("QA_PROMPT_TEMPLATE", "Разговор: {terms}")
    assert primed_options(TranscriptionOptions.from_env(), template).prompt_template == "Разговор: {terms}"


@pytest.mark.parametrize("template", ["Звонок без терминов", "{terms}, {terms}", "{brand}: {terms}"])
def test_a_bad_prompt_template_names_the_file_and_the_field(tmp_path, template):
    from qa.errors import RuleFileError
    from qa.rules.ruleset import load_ruleset

    (tmp_path / "ruleset.yml").write_text(f'name: t\nprompt_template: "{template}"\n', encoding="utf-8")
    with pytest.raises(RuleFileError, match=r"must hold \{terms\} once") as err:
        load_ruleset(tmp_path)
    assert str(err.value).startswith(str(tmp_path / "ruleset.yml")) and err.value.field == "prompt_template"
