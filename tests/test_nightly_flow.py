"""The whole spine for real: the Prefect flow with the embedded Whisper model over the bundled samples
(plus broken inputs) into a DuckDB file; then the CLI's read side on that file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.store import open_store

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
FIXTURES = REPO / "tests" / "fixtures"


def truth(name: str) -> dict:
    return json.loads((FIXTURES / "truth" / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def nightly(tmp_path_factory, transcript_cache):
    """Two runs of the real flow over the same inbox: samples + a corrupt call, an empty WAV, a bad chat
    and a stray file."""
    from qa.flows.nightly import nightly_qa

    root = tmp_path_factory.mktemp("nightly")
    inbox = root / "inbox"
    shutil.copytree(SAMPLES, inbox)
    shutil.copy(FIXTURES / "audio" / "corrupt.flac", inbox / "broken_call.flac")
    shutil.copy(FIXTURES / "audio" / "empty.wav", inbox / "empty_call.wav")
    (inbox / "broken.chat.json").write_text('{"id": "x", "messages": [', encoding="utf-8")
    (inbox / "notes.docx").write_bytes(b"PK\x03\x04")
    db = root / "qa.duckdb"
    kwargs = {"inbox": str(inbox), "db": str(db), "rules": str(REPO / "scripts_rules"),
              "cache_dir": str(transcript_cache)}
    first = nightly_qa(**kwargs)
    counts_after_first = {t: open_store(db).query(f"SELECT count(*) FROM {t}")[1][0][0]
                          for t in ("conversations", "utterances", "findings", "scores")}
    second = nightly_qa(**kwargs)
    return {"db": db, "inbox": inbox, "first": first, "second": second, "counts": counts_after_first}


def rows(db: Path, sql: str, *params) -> list[dict]:
    columns, data = open_store(db).query(sql, params)
    return [dict(zip(columns, r, strict=True)) for r in data]


def test_first_run_scores_the_samples_and_records_broken_inputs(nightly):
    first = nightly["first"]
    assert (first["discovered"], first["skipped"], first["processed"], first["failed"]) == (11, 0, 7, 4)
    failures = rows(nightly["db"], "SELECT source_path, stage, error FROM failures ORDER BY source_path")
    by_name = {Path(f["source_path"]).name: f for f in failures}
    assert set(by_name) == {"broken_call.flac", "empty_call.wav", "broken.chat.json", "notes.docx"}
    for name, failure in by_name.items():
        assert failure["error"].startswith(str(nightly["inbox"] / name) + ": ")
    assert by_name["broken.chat.json"]["stage"] == "parse" and "not valid JSON" in by_name["broken.chat.json"]["error"]
    assert by_name["notes.docx"]["stage"] == "discover"
    assert by_name["empty_call.wav"]["stage"] == "decode"


def test_second_run_adds_nothing(nightly):
    second = nightly["second"]
    # the four broken inputs are bad files: not tried again until their content changes
    assert (second["skipped"], second["processed"], second["failed"]) == (11, 0, 0)
    for table, count in nightly["counts"].items():
        assert open_store(nightly["db"]).query(f"SELECT count(*) FROM {table}")[1][0][0] == count, table
    runs = rows(nightly["db"], "SELECT status, processed, skipped FROM runs ORDER BY started_at")
    assert [(r["processed"], r["skipped"]) for r in runs] == [(7, 0), (0, 11)]
    assert [r["status"] for r in runs] == ["completed", "completed"]
    per_run = rows(nightly["db"], "SELECT run_id, count(*) AS n FROM failures GROUP BY run_id")
    assert sorted(r["n"] for r in per_run) == [4]


def test_migrations_are_recorded(nightly):
    names = [r["name"] for r in rows(nightly["db"], "SELECT name FROM schema_migrations ORDER BY version")]
    assert names[0] == "001_initial.sql" and len(names) >= 2


def test_escalation_call_is_flagged_with_the_clients_quote_on_time(nightly):
    scores = rows(nightly["db"], "SELECT * FROM latest_scores WHERE conversation_id = 'call-0003'")
    assert scores and scores[0]["flagged"] and scores[0]["escalation"]
    findings = rows(nightly["db"], "SELECT * FROM latest_findings WHERE conversation_id = 'call-0003' "
                                   "AND category = 'escalation' ORDER BY start_s")
    assert {f["speaker"] for f in findings} == {"client"}
    rules = {f["rule_id"] for f in findings}
    assert {"escalation_complaint", "escalation_manager_request", "escalation_legal_threat"} <= rules
    complaint = next(f for f in findings if f["rule_id"] == "escalation_complaint")
    turn = next(t for t in truth("call_escalation")["turns"] if "жалобу" in t["text"])
    assert "жалобу" in complaint["quote"].lower()
    assert turn["start"] - 1.0 <= complaint["start_s"] <= turn["end"] + 1.0
    assert complaint["end_s"] <= turn["end"] + 1.0


def test_compliant_call_passes(nightly):
    [score] = rows(nightly["db"], "SELECT * FROM latest_scores WHERE conversation_id = 'call-0001'")
    assert score["passed"] and not score["flagged"] and score["total"] >= 80
    steps = {s["step"]: s for s in json.loads(score["details"])["script"]}
    for step in ("greeting", "introduction", "company", "any_questions", "farewell", "thanks_for_waiting"):
        assert steps[step]["passed"], step
    assert rows(nightly["db"], "SELECT * FROM latest_findings WHERE conversation_id = 'call-0001' "
                               "AND category IN ('stop_word', 'escalation')") == []


def test_stop_word_call_has_stop_words_and_the_dead_air(nightly):
    findings = rows(nightly["db"], "SELECT * FROM latest_findings WHERE conversation_id = 'call-0002' ORDER BY start_s")
    stop = {f["rule_id"] for f in findings if f["category"] == "stop_word"}
    assert {"stop_word_dont_know", "stop_word_parasites", "stop_word_gendered_address", "stop_word_not_my_job",
            "stop_word_call_back_later"} <= stop
    assert all(f["speaker"] == "operator" for f in findings if f["category"] == "stop_word")
    [gap] = [p for p in truth("call_stopwords")["pauses"] if p["duration"] > 8]
    [silence] = [f for f in findings if f["rule_id"] == "silence_dead_air"]
    assert abs(silence["start_s"] - gap["start"]) < 1.0 and abs(silence["end_s"] - gap["end"]) < 1.0
    assert json.loads(silence["details"])["hold_announced"] is False
    [score] = rows(nightly["db"], "SELECT * FROM latest_scores WHERE conversation_id = 'call-0002'")
    assert score["flagged"] and not score["passed"]


def test_mono_call_says_so(nightly):
    [conv] = rows(nightly["db"], "SELECT * FROM conversations WHERE source_path LIKE '%call_mono.ogg'")
    assert conv["speaker_mode"] == "mono"
    speakers = {r["speaker"] for r in rows(nightly["db"], "SELECT speaker FROM utterances WHERE conversation_id = ?",
                                            conv["conversation_id"])}
    assert speakers == {"operator", "client"}  # told apart by voice, roles from what each says (issue #19)
    attribution = json.loads(conv["transcription"])["stats"]["mono_attribution"]
    assert attribution["method"] == "voices" and attribution["confidence"] >= 0.8
    words = rows(nightly["db"], "SELECT words FROM utterances WHERE conversation_id = ?", conv["conversation_id"])
    assert all(len(w) == 5 and 0 <= w[4] <= 1 for r in words for w in json.loads(r["words"]))  # speaker confidence


def test_slow_chat_is_flagged_for_response_time_and_escalation(nightly):
    findings = rows(nightly["db"], "SELECT rule_id FROM latest_findings f JOIN conversations c USING (conversation_id)"
                                   " WHERE c.source_path LIKE '%chat_slow.chat.json'")
    rules = {f["rule_id"] for f in findings}
    assert "slow_first_response" in rules and "escalation_complaint" in rules


def test_cli_flagged_filters_with_bound_parameters(nightly):
    runner = CliRunner()
    result = runner.invoke(app, ["flagged", "--db", str(nightly["db"]), "--format", "json"])
    assert result.exit_code == 0, result.output
    flagged = {r["conversation_id"] for r in json.loads(result.stdout)}
    assert {"call-0002", "call-0003"} <= flagged and "call-0001" not in flagged
    result = runner.invoke(app, ["flagged", "--db", str(nightly["db"]), "--format", "json", "--rule",
                                 "silence_dead_air"])
    assert {r["conversation_id"] for r in json.loads(result.stdout)} == {"call-0002"}
    result = runner.invoke(app, ["flagged", "--db", str(nightly["db"]), "--format", "csv", "--team", "x' OR 1=1 --"])
    # header only, with a warning that the team matches nothing stored (an empty result after a typo exits 1)
    assert result.exit_code == 1 and result.stdout.strip().count("\n") == 0
    assert "matches nothing stored" in result.output


def test_rescore_keeps_the_old_versions_results(nightly, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "scripts_rules", rules)
    path = rules / "stop_word_parasites.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("status: active", "status: disabled"), encoding="utf-8")
    if "status: disabled" not in path.read_text(encoding="utf-8"):
        path.write_text(path.read_text(encoding="utf-8") + "\nstatus: disabled\n", encoding="utf-8")
    db = tmp_path / "qa.duckdb"
    shutil.copy(nightly["db"], db)
    before = open_store(db).query("SELECT count(DISTINCT ruleset_version), count(*) FROM scores")[1][0]
    result = CliRunner().invoke(app, ["rescore", "--db", str(db), "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    after = open_store(db).query("SELECT count(DISTINCT ruleset_version), count(*) FROM scores")[1][0]
    assert after == (before[0] + 1, before[1] * 2)
    latest = open_store(db).query("SELECT count(*) FROM latest_findings WHERE rule_id = 'stop_word_parasites'")[1][0][0]
    old = open_store(db).query("SELECT count(*) FROM findings WHERE rule_id = 'stop_word_parasites'")[1][0][0]
    assert latest == 0 and old > 0
    assert open_store(db).query("SELECT count(*) FROM utterances")[1][0][0] == nightly["counts"]["utterances"]


def test_a_bad_file_is_tried_again_once_it_changes(nightly, tmp_path):
    from qa.flows.nightly import nightly_qa

    fixed = nightly["inbox"] / "broken.chat.json"
    fixed.write_text(json.dumps({"id": "chat-fixed", "messages": [
        {"role": "operator", "at": "2026-11-27T10:00:00+03:00", "text": "Здравствуйте!"}]}), encoding="utf-8")
    third = nightly_qa(inbox=str(nightly["inbox"]), db=str(nightly["db"]), rules=str(REPO / "scripts_rules"),
                       cache_dir=str(tmp_path / "cache"))
    assert (third["skipped"], third["processed"], third["failed"]) == (10, 1, 0)

