"""The conversation page of mono calls: where a speaker was inferred and how sure, words decoded again, and the
steps and findings that are unverified (real app, real DuckDB file, the real rule set)."""

from __future__ import annotations

import re

from test_prompt_evidence import BANK_PROMPT, bank_leak
from test_web import signed_in

from qa.records import Conversation, Utterance, Word
from qa.store import open_store


def _mono_with_inferred_speakers() -> Conversation:
    def words(text: str, start: float, sure: float) -> tuple[Word, ...]:
        return tuple(Word(w, start + 0.4 * i, start + 0.4 * i + 0.3, 0.9, sure) for i, w in enumerate(text.split()))

    said = [("operator", 0.0, "Здравствуйте, банк Северный, оператор Максим.", 0.93),
            ("unknown", 3.0, "Здравствуйте.", 0.4),
            ("client", 4.0, "У меня не работает карта.", 0.81)]
    utts = [Utterance(s, t, t + 0.4 * len(x.split()), x, words(x, t, c)) for s, t, x, c in said]
    stats = {"mono_attribution": {"method": "voices", "confidence": 0.86, "role_confidence": 1.0},
             "decoded_again": [{"why": ["loop"], "speaker": "mono", "stretches": [
                 {"start": 3.9, "end": 6.5, "kept": "plain", "why": "covers more of the voice"}]}]}
    return Conversation("mono-1", "call", "mono-1.wav", "m1", utts, team="team-bank", speaker_mode="mono",
                        transcription={"options": {"initial_prompt": BANK_PROMPT}, "stats": stats})


def test_the_page_says_who_was_inferred_how_sure_and_what_was_decoded_again(tmp_path, scorer):
    db = tmp_path / "qa.duckdb"
    leak = bank_leak(BANK_PROMPT)
    leak.conversation_id = "leak-1"
    open_store(db).write_results("run-1", [scorer.score(_mono_with_inferred_speakers()), scorer.score(leak)])
    client = signed_in(db, "anna", pii=True)
    page = client.get("/conversations/mono-1").text
    assert "моно: говорящие определены по голосу, уверенность 86%" in page
    assert re.search(r"по голосу, 9[23]%", page) and "по голосу, 81%" in page
    assert "распознано повторно: моно — зацикливание, фрагментов взято: 1" in page
    assert "unsure_words" not in page and "(зацикливание)" in page  # the reasons in words, not as stored
    assert page.count('class="redecoded"') == 1  # only the turn inside the stretch decoded again
    leak_page = client.get("/conversations/leak-1").text
    assert "Не подтверждено: шагов скрипта — 0, находок — 1" in leak_page
    assert "эхо подсказки" in leak_page and "эскалации нет" in leak_page
    assert "badge escalation" not in leak_page


def test_an_unknown_speaker_step_shows_as_unverified(tmp_path, scorer):
    db = tmp_path / "qa.duckdb"
    conv = Conversation("mono-2", "call", "m.wav", "m2", [Utterance("unknown", 0.0, 2.0, "Здравствуйте, слушаю.")],
                        speaker_mode="mono", transcription={"stats": {"mono_attribution": {
                            "method": "unknown", "reason": "too little speech to tell two speakers (2 words)"}}})
    open_store(db).write_results("run-1", [scorer.score(conv)])
    page = signed_in(db, "anna").get("/conversations/mono-2").text
    assert "моно: говорящий не определён — too little speech" in page
    assert "Не подтверждено: Говорящий не определён: «Здравствуйте, слушаю.» мог сказать не оператор" in page
    assert '<li class="unverified">' in page


def test_a_channel_decoded_again_but_kept_whole_shows_no_chip_and_reasons_are_named_in_words():
    from qa.review.web.transcript import redecoded_channels

    stats = {"decoded_again": [
        {"why": ["unsure_words"], "speaker": "operator", "stretches": [], "kept_plain": 0},
        {"why": ["unsure_words"], "speaker": "client", "stretches": [
            {"start": 1.0, "end": 2.0, "kept": "plain", "why": "surer without the prompt"},
            {"start": 5.0, "end": 6.0, "kept": "primed", "why": "higher log-probability"}]},
        {"why": ["loop", "unsure_words"], "speaker": "client", "stretches": [
            {"start": 9.0, "end": 9.5, "kept": "plain", "why": "covers more of the voice"}]}]}
    shown = redecoded_channels(stats)
    assert [(r.speaker, r.why, r.taken) for r in shown] == [("client", ("unsure_words", "loop"), 2)]
    from qa.review import labels

    assert [labels.redecode_reason(k) for k in ("loop", "prompt_echo", "low_coverage", "unsure_words")] == [
        "зацикливание", "эхо подсказки", "пропущена речь", "неуверенно распознанные слова"]
