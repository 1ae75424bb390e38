"""Coaching exports on a database made by the real flow: clips cut with PyAV, personal data redacted in text
and beeped in audio, one self-contained HTML page, files confined to the output folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.records import Word
from qa.review.export import confined, safe_name
from qa.speech.audio import decode_audio
from qa.store import Review, open_store, queries
from qa.store.current import refresh_current

pytestmark = pytest.mark.slow
runner = CliRunner()


def export(db: Path, out: Path, *args: str) -> tuple[list[dict], str]:
    result = runner.invoke(app, ["export", "--db", str(db), "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    lines = (out / "examples.jsonl").read_text(encoding="utf-8").splitlines() if (out / "examples.jsonl").exists() \
        else []
    return [json.loads(line) for line in lines], result.output


def test_examples_carry_context_score_verdict_and_a_clip_named_by_rule(sample_db, tmp_path):
    examples, _ = export(sample_db, tmp_path, "--category", "escalation", "--limit", "50")
    assert {e["conversation_id"] for e in examples} == {"call-0003", "chat-0002"}
    rules = [e["rule_id"] for e in examples]  # the rules in turn: each one's first example before any second
    assert rules[:len(set(rules))] == list(dict.fromkeys(rules)) and len(set(rules)) > 1
    complaint = next(e for e in examples if e["rule_id"] == "escalation_complaint" and e["channel"] == "call")
    assert complaint["operator_id"] == "op-igor" and complaint["score"] == pytest.approx(83.3)
    assert "жалоб" in complaint["quote"].lower() and complaint["speaker"] == "client"
    assert any(c["is_finding"] for c in complaint["context"]) and len(complaint["context"]) >= 2
    assert all(abs(c["start_s"] - complaint["start_s"]) < 30 for c in complaint["context"])
    clip = tmp_path / complaint["clip"]
    assert clip.parent == tmp_path / "clips" and clip.name.startswith("escalation_complaint--")
    audio = decode_audio(clip)
    expected = min(complaint["end_s"] + 10, 70) - max(0, complaint["start_s"] - 10)
    assert abs(audio.duration_s - expected) < 0.2
    chats = [e for e in examples if e["channel"] == "chat"]
    assert chats and all(e["clip"] is None for e in chats)
    names = sorted(p.name for p in (tmp_path / "clips").iterdir())
    assert [n.split("--")[0] for n in names] == sorted(n.split("--")[0] for n in names)


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[np.argmax(spectrum)])


def test_personal_data_is_redacted_in_text_and_beeped_in_the_clip(sample_db, tmp_path):
    from qa.text.redaction import get_redactor

    examples, output = export(sample_db, tmp_path / "red", "--rule", "escalation_complaint", "--context", "30")
    [call] = [e for e in examples if e["channel"] == "call"]
    text = " ".join(c["text"] for c in call["context"])
    assert "[ТЕЛЕФОН]" in text and "[ИМЯ]" in text
    assert not any(ch.isdigit() for ch in text.replace("5 дней", ""))
    assert call["redacted"].get("phone") == 1 and "redacted: " in output
    # Where the phone number was spoken, the clip has the beep and not the voice.
    detail = queries.conversation(open_store(sample_db), "call-0003")
    turn = next(u for u in detail["utterances"] if get_redactor().find(u["text"]))
    words = [Word(*w) for w in turn["words"]]
    ranges = get_redactor().silence_ranges(turn["text"], words)
    assert ranges
    clip_start = max(0.0, call["start_s"] - 30)
    redacted = decode_audio(tmp_path / "red" / call["clip"])
    plain_examples, warning = export(sample_db, tmp_path / "plain", "--rule", "escalation_complaint",
                                     "--context", "30", "--no-redact")
    [plain_call] = [e for e in plain_examples if e["channel"] == "call"]
    plain = decode_audio(tmp_path / "plain" / plain_call["clip"])
    rate = redacted.sample_rate
    start, end = ranges[-1]
    if end - clip_start > redacted.duration_s:
        pytest.fail("the redacted words lie outside the clip: widen the context")
    a, b = int((start - clip_start) * rate) + 400, int((end - clip_start) * rate) - 400
    assert dominant_hz(redacted.channels[1][a:b], rate) == pytest.approx(1000, abs=30)
    assert dominant_hz(plain.channels[1][a:b], rate) != pytest.approx(1000, abs=30)
    # --no-redact says so loudly and keeps the digits.
    assert "WARNING: --no-redact" in warning
    plain_text = " ".join(c["text"] for c in plain_call["context"])
    assert "[ТЕЛЕФОН]" not in plain_text and any(ch.isdigit() for ch in plain_text)
    assert json.loads((tmp_path / "plain" / "manifest.json").read_text())["redaction"] is False


def test_html_export_is_one_self_contained_page(sample_db, tmp_path):
    runner_result = runner.invoke(app, ["export", "--db", str(sample_db), "--out", str(tmp_path), "--format",
                                        "html", "--category", "escalation"])
    assert runner_result.exit_code == 0, runner_result.output
    page = (tmp_path / "examples.html").read_text(encoding="utf-8")
    assert page.count("data:audio/ogg;base64,") >= 5
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "[ТЕЛЕФОН]" in page and "Клиент хочет пожаловаться" in page


def test_csv_export_and_mp3_clips(sample_db, tmp_path):
    result = runner.invoke(app, ["export", "--db", str(sample_db), "--out", str(tmp_path), "--format", "csv",
                                 "--rule", "silence_dead_air", "--clip-format", "mp3"])
    assert result.exit_code == 0, result.output
    with (tmp_path / "examples.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["rule_id"] for r in rows] == ["silence_dead_air"] and rows[0]["clip"].endswith(".mp3")
    assert decode_audio(tmp_path / rows[0]["clip"]).duration_s > 10


def test_verdict_filter_picks_reviewed_findings(sample_db, tmp_path):
    [finding] = queries.findings(open_store(sample_db), queries.Filters(flagged=None, rule="escalation_complaint",
                                                            conversation_id="call-0003"))
    open_store(sample_db).add_review(Review("call-0003", "confirmed", "тренер", finding["finding_key"],
                                             "Хороший пример, клиент Смирнова"))
    examples, _ = export(sample_db, tmp_path, "--verdict", "confirmed", "--no-clips")
    assert [(e["conversation_id"], e["rule_id"], e["verdict"]) for e in examples] == [
        ("call-0003", "escalation_complaint", "confirmed")]
    assert "Смирнова" not in examples[0]["review_comment"] and examples[0]["clip"] is None


def test_missing_audio_is_reported_the_export_goes_on_and_exits_3(sample_db, tmp_path):
    with open_store(sample_db).connect() as con:
        con.execute("UPDATE conversations SET source_path = '/nonexistent/call.flac' WHERE conversation_id = ?",
                    ["call-0002"])
    result = runner.invoke(app, ["export", "--db", str(sample_db), "--out", str(tmp_path), "--rule",
                                 "silence_dead_air"])
    assert result.exit_code == 3, result.output  # written, but a requested clip could not be cut
    [example] = [json.loads(line) for line in (tmp_path / "examples.jsonl").read_text().splitlines()]
    assert example["clip"] is None and example["clip_problem"] == "missing"
    assert "/nonexistent/call.flac: audio file not found" in example["clip_error"]
    assert "no clip call-0002" in result.output and "1 requested clips could not be cut" in result.output
    # text only on purpose: nothing requested is missing, exit 0
    text_only, _ = export(sample_db, tmp_path / "text", "--rule", "silence_dead_air", "--no-clips")
    assert text_only[0]["clip"] is None and text_only[0]["clip_problem"] is None
    # the HTML page says it in Russian, with the file
    html_out = runner.invoke(app, ["export", "--db", str(sample_db), "--out", str(tmp_path / "html"), "--format",
                                   "html", "--rule", "silence_dead_air"])
    assert html_out.exit_code == 3
    page = (tmp_path / "html" / "examples.html").read_text(encoding="utf-8")
    assert "Файл записи не найден: /nonexistent/call.flac" in page and "<audio" not in page


def test_purged_and_transcript_calls_have_no_clip_but_the_export_succeeds(sample_db, tmp_path):
    from qa.store.retention import purge

    with open_store(sample_db).connect() as con:
        con.execute("UPDATE conversations SET started_at = TIMESTAMPTZ '2020-01-01 10:00:00+03:00' "
                    "WHERE conversation_id = 'call-0002'")
    from datetime import timedelta

    purge(open_store(sample_db), timedelta(days=180))
    examples, _ = export(sample_db, tmp_path, "--rule", "silence_dead_air")
    assert examples[0]["clip_problem"] == "purged" and "retention purge" in examples[0]["clip_error"]
    transcript, _ = export(sample_db, tmp_path / "t", "--operator", "op-oleg")
    assert transcript and {e["clip_problem"] for e in transcript} == {"transcript"}


def test_html_export_speaks_russian_with_rule_titles(sample_db, tmp_path):
    import re

    english = re.compile(r"missed step|score \d|category:|not said|brand heard|\bNone\b|\[\d+(\.\d+)? s\]|"
                         r"\b(info|low|medium|high|critical|operator|client|confirmed|false_positive|disputed|"
                         r"examples|filters|REDACTION)\b")

    def visible_text(html: str) -> str:
        html = re.sub(r"<(script|style|template|title)\b.*?</\1>", " ", html, flags=re.S)
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))

    result = runner.invoke(app, ["export", "--db", str(sample_db), "--out", str(tmp_path), "--format", "html",
                                 "--limit", "100"])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "examples.html").read_text(encoding="utf-8")
    text = visible_text(re.sub(r'src="data:[^"]+"', "", page))
    assert not english.search(text), english.search(text).group(0)
    rule_ids = {r[0] for r in queries.rule_precision(open_store(sample_db))[1]}
    assert not {r for r in rule_ids if re.search(rf"\b{r}\b", text)}
    assert "Клиент хочет пожаловаться" in text and "Примеры для обучения" in text and "балл 83.3" in text
    assert "Оператор" in text and "Клиент" in text and "Доля тишины = " in text
    assert "кроме ложных срабатываний" in text  # the default verdict filter, in words
    plain = runner.invoke(app, ["export", "--db", str(sample_db), "--out", str(tmp_path / "p"), "--format", "html",
                                "--no-redact", "--rule", "stop_word_dont_know"])
    assert "ЗАЩИТА ПЕРСОНАЛЬНЫХ ДАННЫХ ВЫКЛЮЧЕНА" in (tmp_path / "p" / "examples.html").read_text(encoding="utf-8")
    assert plain.exit_code == 0


def test_hostile_ids_cannot_write_outside_the_output_folder(sample_db, tmp_path):
    evil = "../../../../tmp/evil/x"
    with open_store(sample_db).connect() as con:
        for table in ("conversations", "utterances", "findings", "scores"):
            con.execute(f"UPDATE {table} SET conversation_id = ? WHERE conversation_id = 'call-0002'", [evil])
        refresh_current(con)  # hand edits of the base tables: rebuild the current results
    out = tmp_path / "out"
    examples, _ = export(sample_db, out, "--rule", "silence_dead_air")
    assert examples[0]["conversation_id"] == evil
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.startswith("qa.duckdb")]
    assert written and all(p.resolve().is_relative_to(out.resolve()) for p in written)
    assert "/" not in safe_name(evil, "a/b") and not safe_name("..", ".x").startswith(".")
    with pytest.raises(ValueError, match="escapes the output folder"):
        confined(out, "../x")


def test_good_examples_are_script_steps_done_well(sample_db, tmp_path):
    examples, _ = export(sample_db, tmp_path, "--good", "--category", "greeting", "--limit", "10")
    assert examples and all(e["category"] == "greeting" and e["severity"] == "good" for e in examples)
    for rule in {e["rule_id"] for e in examples}:  # best-scored conversations first within each step
        scores = [e["score"] for e in examples if e["rule_id"] == rule]
        assert scores == sorted(scores, reverse=True)
    assert "call-0002" not in {e["conversation_id"] for e in examples}  # it opened with «Алло, слушаю»
    best = next(e for e in examples if e["conversation_id"] == "call-0001")
    assert best["rule_id"] == "script_inbound.greeting" and best["score"] == 100
    assert Path(tmp_path / best["clip"]).name.startswith("script_inbound.greeting--")
    assert any(c["is_finding"] and c["speaker"] == "operator" for c in best["context"])
    farewell, _ = export(sample_db, tmp_path / "f", "--good", "--rule", "script_inbound.farewell", "--no-clips")
    assert farewell and {e["rule_id"] for e in farewell} == {"script_inbound.farewell"}
