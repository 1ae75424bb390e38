"""qa.toml and qa init: paths from one config file, flags over it; unusable devices and inboxes refused at once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.config import ConfigError, default_rules_dir, load_config
from qa.store import Review, open_store, queries
from qa.store.current import refresh_current

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
runner = CliRunner()


def has(output: str, text: str) -> bool:
    """Whether ``text`` is in the CLI output, ignoring the line breaks rich adds to long lines."""
    return "".join(text.split()) in "".join(output.split())


def test_default_rules_are_found_without_a_working_folder():
    assert (default_rules_dir() / "ruleset.yml").is_file()


def test_init_writes_a_config_and_an_editable_rule_copy(tmp_path):
    result = runner.invoke(app, ["init", str(tmp_path / "work")])
    assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "work" / "qa.toml")
    assert config.rules == tmp_path / "work" / "rules" and (config.rules / "ruleset.yml").is_file()
    assert config.db == tmp_path / "work" / "data" / "qa.duckdb" and config.timezone == "Europe/Moscow"
    again = runner.invoke(app, ["init", str(tmp_path / "work")])
    assert again.exit_code == 2 and "already exists" in again.output


def test_the_config_file_sets_paths_and_a_flag_overrides_it(tmp_path):
    runner.invoke(app, ["init", str(tmp_path / "work")])
    env = {"QA_CONFIG": str(tmp_path / "work" / "qa.toml"), "QA_DB": None, "QA_RULES": None}
    # the editable copy is what `check-rules` reads: a broken rule there fails it
    (tmp_path / "work" / "rules" / "broken.yml").write_text("id: [", encoding="utf-8")
    broken = runner.invoke(app, ["check-rules", "--no-tests"], env=env)
    assert broken.exit_code == 2 and has(broken.output, "broken.yml")
    missing = runner.invoke(app, ["flagged"], env=env)
    assert missing.exit_code == 2 and has(missing.output, str(tmp_path / "work" / "data" / "qa.duckdb"))
    flag = runner.invoke(app, ["flagged", "--db", str(tmp_path / "other.duckdb")], env=env)
    assert flag.exit_code == 2 and has(flag.output, "other.duckdb")


def test_an_unknown_config_key_names_the_nearest_known_one(tmp_path):
    path = tmp_path / "qa.toml"
    path.write_text('[qa]\nrulse = "r"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"rulse.*did you mean 'rules'"):
        load_config(path)
    path.write_text('[qa]\ntimezone = "Europe/Moskva"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown time zone"):
        load_config(path)


@pytest.mark.parametrize("device", ["gpu", "tpu"])
def test_an_unknown_device_fails_at_once(tmp_path, device):
    result = runner.invoke(app, ["run", str(SAMPLES), "--db", str(tmp_path / "qa.duckdb"), "--device", device])
    assert result.exit_code == 2 and has(result.output, f"device {device!r}")
    assert not (tmp_path / "qa.duckdb").exists()


def test_cuda_without_a_gpu_fails_at_once(tmp_path):
    from qa.speech.transcribe import cuda_available

    if cuda_available():
        pytest.skip("this machine has a GPU")
    result = runner.invoke(app, ["run", str(SAMPLES), "--db", str(tmp_path / "qa.duckdb"), "--device", "cuda"])
    assert result.exit_code == 2 and has(result.output, "no CUDA GPU")


def test_schedule_refuses_a_missing_inbox(tmp_path):
    result = runner.invoke(app, ["schedule", str(tmp_path / "nope")])
    assert result.exit_code == 2 and has(result.output, "inbox folder not found")


@pytest.mark.slow
def test_the_coaching_export_leaves_out_false_positives(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("chat_slow.chat.json", "transcript_example.transcript.json"):
        shutil.copy(SAMPLES / name, inbox / name)
    db = tmp_path / "qa.duckdb"
    ran = runner.invoke(app, ["run", str(inbox), "--db", str(db), "--cache-dir", ""])
    assert ran.exit_code == 0, ran.output
    found = queries.findings(open_store(db), queries.Filters(flagged=None), limit=1000)
    assert len(found) >= 2
    wrong = found[0]
    open_store(db).add_review(Review(wrong["conversation_id"], "false_positive", "тренер", wrong["finding_key"]))

    def exported(*args: str) -> list[tuple[str, str]]:
        out = tmp_path / f"out{len(args)}"
        result = runner.invoke(app, ["export", "--db", str(db), "--out", str(out), "--limit", "1000", *args])
        assert result.exit_code == 0, result.output
        lines = (out / "examples.jsonl").read_text(encoding="utf-8").splitlines()
        return [(e["conversation_id"], e["finding_key"]) for e in map(json.loads, lines)]

    key = (wrong["conversation_id"], wrong["finding_key"])
    assert key not in exported() and len(exported()) == len(found) - 1
    assert key in exported("--verdict", "all")
    assert exported("--verdict", "false_positive") == [key]


def test_a_sidecar_key_typo_is_warned_with_the_nearest_key(tmp_path, caplog):
    from qa.inbox.inputs import read_sidecar

    sidecar = tmp_path / "call.json"
    sidecar.write_text('{"id": "c1", "teem": "team-south", "queue": "vip"}', encoding="utf-8")
    info = read_sidecar(tmp_path / "call.flac", sidecar)
    assert info.team is None and info.metadata == {"teem": "team-south", "queue": "vip"}
    assert "'teem'" in caplog.text and "did you mean 'team'" in caplog.text and "queue" not in caplog.text


@pytest.mark.slow
def test_a_filter_typo_names_the_nearest_stored_value(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SAMPLES / "chat_slow.chat.json", inbox / "chat_slow.chat.json")
    db = tmp_path / "qa.duckdb"
    assert runner.invoke(app, ["run", str(inbox), "--db", str(db), "--cache-dir", ""]).exit_code == 0
    for args, hint in ((["flagged", "--team", "team-suoth"], "did you mean 'team-south'"),
                       (["findings", "--operator", "op-igr"], "did you mean 'op-igor'"),
                       (["findings", "--rule", "slow_replly"], "did you mean 'slow_reply'"),
                       (["stats", "--team", "team-suoth"], "did you mean 'team-south'"),
                       (["flagged", "--category", "escalaton"], "did you mean 'escalation'"),
                       (["export", "--out", str(tmp_path / "x"), "--operator", "op-igr"], "did you mean 'op-igor'")):
        result = runner.invoke(app, [*args, "--db", str(db)])
        assert result.exit_code == 1 and has(result.output, hint), (args, result.output)
    good = runner.invoke(app, ["flagged", "--team", "team-south", "--db", str(db)])
    assert good.exit_code == 0 and "warning" not in good.output


def test_parse_age():
    from datetime import timedelta

    from qa.store.retention import parse_age

    assert parse_age("180d") == timedelta(days=180) and parse_age("2w") == timedelta(days=14)
    with pytest.raises(ValueError, match="180d"):
        parse_age("half a year")


@pytest.mark.slow
def test_purge_removes_transcripts_and_quotes_and_keeps_scores(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("chat_slow.chat.json", "chat_good.chat.json"):
        shutil.copy(SAMPLES / name, inbox / name)
    db = tmp_path / "qa.duckdb"
    assert runner.invoke(app, ["run", str(inbox), "--db", str(db), "--cache-dir", ""]).exit_code == 0
    found = queries.findings(open_store(db), queries.Filters(flagged=None, conversation_id="chat-0002"))
    open_store(db).add_review(Review("chat-0002", "confirmed", "тренер", found[0]["finding_key"], "клиент Смирнова"))
    _, before = open_store(db).query("SELECT conversation_id, total FROM latest_scores ORDER BY 1")
    _, daily_before = open_store(db).query("SELECT * FROM daily_scores ORDER BY ALL")
    # the samples are from 2026-11-27: a 1-day retention purges them, a 100-year one nothing
    assert "Purged 0" in runner.invoke(app, ["purge", "--older-than", "36500d", "--db", str(db)]).output
    result = runner.invoke(app, ["purge", "--older-than", "1d", "--db", str(db)])
    assert result.exit_code == 0 and "Purged 2" in result.output, result.output
    assert open_store(db).query("SELECT count(*) FROM utterances")[1] == [(0,)]
    assert open_store(db).query("SELECT DISTINCT source_path FROM conversations")[1] == [("",)]
    assert open_store(db).query("SELECT count(*) FROM findings WHERE quote <> ''")[1] == [(0,)]
    _, details = open_store(db).query("SELECT details FROM scores")
    assert all("Здравствуйте" not in (d or "") for (d,) in details)
    assert "Смирнова" not in str(open_store(db).query("SELECT * FROM reviews")[1])
    assert open_store(db).query("SELECT conversation_id, total FROM latest_scores ORDER BY 1")[1] == before
    assert open_store(db).query("SELECT * FROM daily_scores ORDER BY ALL")[1] == daily_before
    assert runner.invoke(app, ["rescore", "--db", str(db)]).exit_code == 0
    assert open_store(db).query("SELECT conversation_id, total FROM latest_scores ORDER BY 1")[1] == before


@pytest.mark.parametrize(("value", "end", "expected"), [
    ("2026-11-27", False, "2026-11-27T00:00:00+03:00"),
    ("2026-11-27", True, "2026-11-28T00:00:00+03:00"),  # --until a date: through that whole day
    ("2026-11-27T12:00:00+00:00", False, "2026-11-27T12:00:00+00:00"),
])
def test_a_date_bound_is_read_in_the_configured_time_zone(value, end, expected):
    from datetime import datetime

    from qa.store.queries import day_bound

    assert day_bound(value, end=end, timezone="Europe/Moscow") == datetime.fromisoformat(expected)


def test_audio_problem_names_the_missing_file_and_relative_paths_use_the_root(tmp_path):
    from qa.speech.audio_paths import audio_problem, resolve_audio

    (tmp_path / "calls").mkdir()
    (tmp_path / "calls" / "a.flac").write_bytes(b"x")
    assert resolve_audio("calls/a.flac", tmp_path) == tmp_path / "calls" / "a.flac"
    assert audio_problem("calls/a.flac", tmp_path) is None
    missing = audio_problem("calls/b.flac", tmp_path)
    assert missing.kind == "missing" and missing.path == tmp_path / "calls" / "b.flac"
    assert "b.flac: audio file not found" in str(missing)
    assert audio_problem("", tmp_path).kind == "purged" and "retention purge" in str(audio_problem("", tmp_path))


@pytest.mark.slow
def test_a_good_introduction_keeps_the_operators_own_name(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SAMPLES / "transcript_example.transcript.json", inbox / "t.transcript.json")
    db = tmp_path / "qa.duckdb"
    assert runner.invoke(app, ["run", str(inbox), "--db", str(db), "--cache-dir", ""]).exit_code == 0

    def context(category: str) -> list[dict]:
        out = tmp_path / category
        result = runner.invoke(app, ["export", "--db", str(db), "--out", str(out), "--good", "--category", category])
        assert result.exit_code == 0, result.output
        [example] = [json.loads(line) for line in (out / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
        return example["context"]

    [own] = [c for c in context("introduction") if c["is_finding"]]
    assert "меня зовут Олег" in own["text"]
    greeting = context("greeting")  # the same turn seen as another step still hides the name
    assert all("Олег" not in c["text"] for c in greeting) and any("[ИМЯ]" in c["text"] for c in greeting)


@pytest.mark.slow
def test_one_file_has_one_path_spelling(tmp_path, monkeypatch):
    """However the inbox is spelled (relative, with ``..``, absolute), a file is stored under one resolved path,
    in conversations and in failures, and a second spelling adds nothing."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SAMPLES / "chat_slow.chat.json", inbox / "chat_slow.chat.json")
    (inbox / "broken.chat.json").write_text('{"id": "x", "messages": [', encoding="utf-8")
    db = tmp_path / "qa.duckdb"
    monkeypatch.chdir(tmp_path)
    first = runner.invoke(app, ["run", "inbox", "--db", str(db), "--cache-dir", ""])
    assert first.exit_code == 0, first.output
    for spelling in ("./inbox/../inbox", str(inbox)):
        again = runner.invoke(app, ["run", spelling, "--db", str(db), "--cache-dir", ""])
        assert again.exit_code == 0 and "0 scored, 0 failed" in again.output, again.output
    stored = {p for (p,) in open_store(db).query("SELECT source_path FROM conversations")[1]}
    failed = {p for (p,) in open_store(db).query("SELECT source_path FROM failures")[1]}
    assert stored == {str((inbox / "chat_slow.chat.json").resolve())}
    assert failed == {str((inbox / "broken.chat.json").resolve())}
    assert open_store(db).query("SELECT count(*) FROM failures")[1][0][0] == 1  # not retried under another spelling


@pytest.mark.slow
def test_audio_root_timezone_and_device_come_from_the_config_file(sample_db, tmp_path):
    work = tmp_path / "work"
    assert runner.invoke(app, ["init", str(work)]).exit_code == 0
    config = work / "qa.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace('audio_root = "inbox"', f'audio_root = "{SAMPLES}"')
    text = text.replace('timezone = "Europe/Moscow"', 'timezone = "UTC"\ndevice = "tpu"')
    config.write_text(text, encoding="utf-8")
    env = {"QA_CONFIG": str(config), "QA_DB": None, "QA_RULES": None, "QA_TIMEZONE": None, "QA_AUDIO_ROOT": None,
           "QA_DEVICE": None}
    # device: refused at once
    ran = runner.invoke(app, ["run"], env=env)
    assert ran.exit_code == 2 and has(ran.output, "tpu"), ran.output
    # audio_root: a relative stored path is found under it
    with open_store(sample_db).connect() as con:
        con.execute("UPDATE conversations SET source_path = 'call_stopwords.flac', "
                    "started_at = TIMESTAMPTZ '2026-11-28 01:30:00+03:00' WHERE conversation_id = 'call-0002'")
        refresh_current(con)  # a hand edit of the base tables: rebuild the current results
    args = ["export", "--db", str(sample_db), "--rule", "silence_dead_air", "--no-redact"]
    found = runner.invoke(app, [*args, "--out", str(tmp_path / "a")], env=env)
    assert found.exit_code == 0 and has(found.output, "with 1 clips"), found.output
    lost = runner.invoke(app, [*args, "--out", str(tmp_path / "b")], env={**env, "QA_CONFIG": None})
    assert lost.exit_code == 3, lost.output
    # timezone: 28.11 01:30 Moscow is 27.11 in UTC
    def flagged_on(day: str, environment: dict) -> set[str]:
        result = runner.invoke(app, ["flagged", "--db", str(sample_db), "--since", day, "--until", day, "--format",
                                     "json"], env=environment)
        assert result.exit_code in (0, 1), result.output
        return {r["conversation_id"] for r in json.loads(result.stdout or "[]")}

    assert "call-0002" in flagged_on("2026-11-27", env)
    assert "call-0002" not in flagged_on("2026-11-27", {**env, "QA_CONFIG": None})
    assert "call-0002" in flagged_on("2026-11-28", {**env, "QA_CONFIG": None})
