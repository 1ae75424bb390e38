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
