"""The CLI: every command documented and helpful; `qa score` on each input type; bad input exits 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.store import StoreError, open_store
from qa.store.file import is_settled_non_database

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
FIXTURES = REPO / "tests" / "fixtures"
runner = CliRunner()
COMMANDS = sorted(c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands)


def test_every_command_is_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(COMMANDS) >= 8
    missing = [c for c in COMMANDS if not re.search(rf"`qa {re.escape(c)}\b", readme)]
    assert missing == [], f"commands missing from README.md: {missing}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_readme_opens_with_the_two_commands():
    first_lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()[:4]
    assert first_lines[1].startswith("make demo") and first_lines[2].startswith("make test")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


def score_json(path: Path) -> dict:
    result = runner.invoke(app, ["score", str(path), "--json", "--rules", str(REPO / "scripts_rules")])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_score_a_chat():
    out = score_json(SAMPLES / "chat_slow.chat.json")
    assert set(out) >= {"conversation", "utterances", "findings", "script", "metrics", "score"}
    assert out["conversation"]["channel"] == "chat"
    for finding in out["findings"]:
        assert set(finding) >= {"rule_id", "category", "speaker", "start_s", "end_s", "quote", "severity"}
    assert out["score"]["flagged"] and out["score"]["escalation"]
    assert all({"rule_id", "step", "category", "passed"} <= set(s) for s in out["script"])


def test_score_a_transcript():
    out = score_json(SAMPLES / "transcript_example.transcript.json")
    assert out["conversation"]["speaker_mode"] == "transcript"
    assert any(f["category"] == "stop_word" for f in out["findings"])


@pytest.mark.slow
def test_score_a_call_with_the_real_model():
    out = score_json(FIXTURES / "audio" / "two_speakers.flac")
    speakers = [u["speaker"] for u in out["utterances"]]
    assert speakers[0] == "operator" and "client" in speakers
    greeting = next(s for s in out["script"] if s["step"] == "greeting")
    assert greeting["passed"] and greeting["start_s"] < 3


@pytest.mark.parametrize(
    ("fixture", "problem"),
    [("corrupt.flac", ""), ("empty.wav", ""), ("notes.docx", "unknown input type")],
)
def test_score_bad_input_exits_2_naming_the_file(tmp_path, fixture, problem):
    path = tmp_path / fixture
    source = FIXTURES / "audio" / fixture
    path.write_bytes(source.read_bytes() if source.exists() else b"x")
    result = runner.invoke(app, ["score", str(path), "--json"])
    assert result.exit_code == 2
    assert str(path) in result.stderr and problem in result.stderr
    assert result.stdout == ""


def test_score_a_malformed_chat_exits_2(tmp_path):
    path = tmp_path / "bad.chat.json"
    path.write_text('{"messages": []}', encoding="utf-8")
    result = runner.invoke(app, ["score", str(path)])
    assert result.exit_code == 2 and "messages" in result.stderr and str(path) in result.stderr


def test_check_rules_accepts_the_default_set():
    result = runner.invoke(app, ["check-rules", str(REPO / "scripts_rules")])
    assert result.exit_code == 0, result.output
    assert re.search(r"\d+ passed, 0 failed", result.output)


def test_check_rules_names_file_line_and_field(tmp_path):
    (tmp_path / "ruleset.yml").write_text("name: t\n", encoding="utf-8")
    (tmp_path / "r.yml").write_text(
        "id: r\ntitle: T\nkind: stopword\ncategory: stop_word\nseverity: severe\nmatch: {phrases: [x]}\n",
        encoding="utf-8")
    result = runner.invoke(app, ["check-rules", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{tmp_path / 'r.yml'}:5: severity:" in result.stderr.replace("\n", "")


def test_model_names_that_need_a_download_are_refused():
    result = runner.invoke(app, ["prepare-model", "--model", "large-v3"])
    assert result.exit_code == 2 and "large-v3" in result.stderr


def test_sql_is_read_only(tmp_path):

    db = tmp_path / "qa.duckdb"
    with open_store(db).connect():
        pass
    result = runner.invoke(app, ["sql", "CREATE TABLE x (a INT)", "--db", str(db)])
    assert result.exit_code == 2 and "read-only" in result.stderr.lower()
    result = runner.invoke(app, ["sql", "SELECT count(*) AS n FROM conversations", "--db", str(db), "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == [{"n": 0}]


def _damaged(path: Path, size: int, age_s: float) -> Path:
    import os
    import time

    path.write_bytes(b"not a database, just bytes\n" * (size // 27 + 1))
    os.utime(path, (time.time() - age_s, time.time() - age_s))
    return path


@pytest.mark.parametrize(("size", "age_s", "settled"), [
    (20_000, 60, True),   # a whole, old file that is no database: damaged
    (20_000, 0, False),   # just written: maybe another process is creating it
    (100, 60, False),     # smaller than DuckDB's header: maybe still being created
])
def test_a_damaged_database_is_told_from_one_being_created(tmp_path, size, age_s, settled):
    import duckdb


    path = _damaged(tmp_path / "qa.duckdb", size, age_s)
    with pytest.raises(duckdb.Error) as opened:
        duckdb.connect(str(path), read_only=True)
    assert is_settled_non_database(path, opened.value) is settled
    try:
        open_store(path).check_not_damaged()
        refused = False
    except StoreError as exc:
        refused = "not a DuckDB database" in str(exc)
    assert refused is settled


def test_a_real_database_and_a_missing_one_pass_the_damage_check(tmp_path, sample_db):
    import os
    import time


    os.utime(sample_db, (time.time() - 60, time.time() - 60))  # settled: its header is read
    open_store(sample_db).check_not_damaged()  # would raise StoreError
    open_store(tmp_path / "none-yet.duckdb").check_not_damaged()


@pytest.mark.parametrize("args", [["sql", "SELECT 1"], ["flagged"], ["run", "data/samples"]])
def test_a_damaged_database_is_named_at_once_not_waited_for(tmp_path, args):
    db = _damaged(tmp_path / "qa.duckdb", 20_000, 60)
    result = runner.invoke(app, [*args, "--db", str(db)])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert str(db) in text.replace(" ", "")  # the path, however the console wrapped it
    assert "not a DuckDB database (damaged, or another kind of file)" in text
