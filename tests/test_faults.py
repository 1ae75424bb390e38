"""Bad inputs and faults a real deployment meets, through the real `qa run` (CLI, Prefect flow, DuckDB file): each
bad file is a clear error naming it and recorded as failed, the good files beside it (in the same chunk) are stored,
and nothing is skipped without a word (issue #22, «Bad input and faults»)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.store import open_store

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
LONG_AGO = time.time() - 4 * 3600  # older than the settle period of the runs here (1 h)


def rows(db: Path, sql: str, *params) -> list[dict]:
    columns, data = open_store(db).query(sql, params)
    return [dict(zip(columns, r, strict=True)) for r in data]


def write_json(path: Path, data: dict | str) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def call_with_sidecar(inbox: Path, stem: str, sidecar: dict | str, audio: str = "call_stopwords.flac") -> None:
    shutil.copy(SAMPLES / audio, inbox / f"{stem}.flac")
    write_json(inbox / f"{stem}.json", sidecar)


def dead_running_run(db: Path, run_id: str) -> None:
    """A run recorded as running by a process that then ended without finishing it (as a killed `qa run` leaves)."""
    code = f"from qa.store import open_store, RunInfo; open_store({str(db)!r}).start_run(RunInfo(run_id={run_id!r}))"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})


def fault_inbox(root: Path) -> Path:
    """Good files (a call, two chats, a transcript) with every bad kind of the issue beside them, in their chunks."""
    inbox = root / "inbox"
    inbox.mkdir()
    # good: a call (its transcript cached by the session), a chat, a transcript, and a chat in a symlinked folder
    for name in ("call_compliant.flac", "call_compliant.json", "chat_good.chat.json",
                 "transcript_example.transcript.json"):
        shutil.copy(SAMPLES / name, inbox / name)
    linked = root / "elsewhere"
    linked.mkdir()
    shutil.copy(SAMPLES / "chat_slow.chat.json", linked / "linked.chat.json")
    (inbox / "linked-folder").symlink_to(linked, target_is_directory=True)
    # silent skips until now: a symlink loop, a named pipe
    (inbox / "loop").symlink_to(inbox, target_is_directory=True)
    os.mkfifo(inbox / "pipe.chat.json")
    # calls whose sidecar is wrong: an unknown channel key, both channels the operator, a 2 MiB sidecar
    call_with_sidecar(inbox, "foo_channel", {"id": "call-foo", "channels": {"foo": "operator", "right": "client"}})
    call_with_sidecar(inbox, "both_operator", {"id": "call-both", "channels": {"left": "operator",
                                                                             "right": "operator"}})
    call_with_sidecar(inbox, "big_sidecar", {"id": "call-big", "pbx_dump": "x" * (2 << 20)})
    # recordings still being copied: half a FLAC, the first 30 KB of a WAV
    data = (SAMPLES / "call_escalation.flac").read_bytes()
    (inbox / "half.flac").write_bytes(data[: len(data) // 2])
    whole = root / "whole.wav"
    with wave.open(str(whole), "wb") as out:  # a WAV whose header states its length, as a PBX writes it
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(8000 * 2 * 2 * 60))
    (inbox / "copying.wav").write_bytes(whole.read_bytes()[:30_000])
    # damaged in the middle (a bad sector, a lost packet): decoded as a partial call, with a visible warning
    damaged = bytearray((REPO / "tests" / "fixtures" / "audio" / "two_speakers.flac").read_bytes())
    damaged[len(damaged) // 2:len(damaged) // 2 + 4000] = bytes(4000)
    (inbox / "damaged.flac").write_bytes(bytes(damaged))
    write_json(inbox / "damaged.json", {"id": "call-damaged", "team": "team-north"})
    # chats and transcripts, all in one text chunk with the good ones
    chat = sample("chat_slow.chat.json")
    write_json(inbox / "deep.chat.json", '{"id": "deep", "messages": ' + json.dumps(chat["messages"]) +
               ', "extra": ' + "[" * 100_000 + "]" * 100_000 + "}")
    transcript = sample("transcript_example.transcript.json")
    turns = transcript["turns"]
    write_json(inbox / "word_abc.transcript.json", {**transcript, "id": "t-abc", "turns": [
        {**turns[0], "words": [{"text": "Здравствуйте", "start": "abc", "end": 1.0}]}, *turns[1:]]})
    write_json(inbox / "nan.transcript.json", json.dumps({**transcript, "id": "t-nan", "turns": [
        {**turns[0], "start": float("nan")}, *turns[1:]]}, ensure_ascii=False))
    write_json(inbox / "huge.transcript.json", {**transcript, "id": "t-huge", "turns": [
        *turns[:-1], {**turns[-1], "end": 1e300}]})
    write_json(inbox / "past_end.transcript.json", {**transcript, "id": "t-past", "duration_s": 10.0})
    write_json(inbox / "big_meta.transcript.json", {**transcript, "id": "t-meta", "crm_export": "x" * 100_000})
    write_json(inbox / "same_id.chat.json", {**chat, "id": "call-0001"})  # the call's id
    write_json(inbox / "naive.chat.json", {**chat, "id": "chat-naive",
                                           "messages": [{**m, "at": m["at"][:19]} for m in chat["messages"]]})
    write_json(inbox / "slash.chat.json", {**chat, "id": "team-south/2026/0042"})
    for path in [*inbox.rglob("*"), *linked.rglob("*")]:
        if path.is_file() and not path.is_symlink():
            os.utime(path, (LONG_AGO, LONG_AGO))
    # and one file written just now: still being copied, as far as the run can tell
    write_json(inbox / "fresh.chat.json", {**chat, "id": "chat-fresh"})
    return inbox


@pytest.fixture(scope="module")
def faults(tmp_path_factory, transcript_cache):
    root = tmp_path_factory.mktemp("faults")
    inbox = fault_inbox(root)
    db = root / "qa.duckdb"
    dead_running_run(db, "killed-run")
    first = CliRunner().invoke(app, ["run", str(inbox), "--db", str(db), "--cache-dir", str(transcript_cache),
                                     "--settle", "3600"])
    return {"root": root, "inbox": inbox, "db": db, "first": first, "out": " ".join(first.output.split())}


def failure(faults, name: str) -> dict:
    """The one failure row of ``name``; its error names the file with the problem (the call or its sidecar)."""
    found = rows(faults["db"], "SELECT source_path, stage, error FROM failures WHERE source_path LIKE ?", f"%/{name}")
    assert len(found) == 1, (name, found)
    sidecar = faults["inbox"] / Path(name).with_suffix(".json")
    assert found[0]["error"].startswith((f"{faults['inbox'] / name}: ", f"{sidecar}: ")), found
    assert found[0]["error"].split(": ")[0] in faults["out"]  # named in the run's output too
    return found[0]


def test_the_good_files_are_stored_beside_every_bad_one(faults):
    assert faults["first"].exit_code == 0, faults["first"].output
    stored = {r["conversation_id"]: r["source_path"] for r in rows(faults["db"], "SELECT conversation_id, "
                                                                                 "source_path FROM conversations")}
    assert set(stored) == {"call-0001", "chat-0001", "transcript-0001", "chat-0002", "chat-naive",
                           "team-south/2026/0042", "call-damaged"}
    assert stored["chat-0002"].endswith("linked-folder/linked.chat.json")  # read through the symlinked folder


@pytest.mark.parametrize(("name", "stage", "problem"), [
    ("foo_channel.flac", "parse", "unknown channel 'foo'"),
    ("both_operator.flac", "parse", "maps left and right all to 'operator': the client's words would be scored"),
    ("big_sidecar.flac", "parse", "too large for a sidecar (at most 1.0 MiB)"),
    ("half.flac", "decode", "truncated: the header says"),
    ("copying.wav", "decode", "truncated: the header says 60.0 s but only 0.9 s could be decoded"),
    ("deep.chat.json", "parse", "JSON nested too deeply"),
    ("word_abc.transcript.json", "parse", "turns[0]: words[0]: start must be a non-negative number of seconds, not "
                                          "'abc'"),
    ("nan.transcript.json", "parse", "turns[0]: start must be a non-negative number of seconds, not nan"),
    ("huge.transcript.json", "parse", "end 1e+300 s is past 24 hours"),
    ("past_end.transcript.json", "parse", "is past the call's duration_s (10 s)"),
    ("big_meta.transcript.json", "parse", "take 98 KiB of JSON, at most 64 KiB is kept (the largest: 'crm_export')"),
    ("same_id.chat.json", "duplicate", "conversation id 'call-0001' is taken by"),
])
def test_each_bad_file_is_a_failure_naming_it_and_the_problem(faults, name, stage, problem):
    found = failure(faults, name)
    assert found["stage"] == stage and problem in found["error"], found


def test_a_chat_with_a_calls_id_does_not_replace_the_call(faults):
    found = failure(faults, "same_id.chat.json")
    assert str(faults["inbox"] / "call_compliant.flac") in found["error"]
    [call] = rows(faults["db"], "SELECT channel, source_path FROM conversations WHERE conversation_id = 'call-0001'")
    assert call == {"channel": "call", "source_path": str(faults["inbox"] / "call_compliant.flac")}
    summary = faults["out"]
    assert "7 scored" in summary and "12 failed" in summary, summary


def test_chat_times_without_a_zone_are_read_in_the_configured_zone_with_a_warning(faults):
    [naive] = rows(faults["db"], "SELECT started_at, warnings FROM conversations WHERE conversation_id = 'chat-naive'")
    [aware] = rows(faults["db"], "SELECT started_at FROM conversations WHERE conversation_id = 'chat-0002'")
    assert naive["started_at"] == aware["started_at"]  # 18:20 read in Moscow time, as the zoned original says
    assert "read as Europe/Moscow time" in json.loads(naive["warnings"])[0]
    assert f"warning: {faults['inbox'] / 'naive.chat.json'}: times without a time zone" in faults["out"]


def test_a_recording_damaged_in_the_middle_is_a_partial_call_with_a_visible_warning(faults):
    [damaged] = rows(faults["db"], "SELECT duration_s, warnings FROM conversations WHERE conversation_id = "
                                   "'call-damaged'")
    [warning] = json.loads(damaged["warnings"])
    assert warning.startswith("audio: 0.5 s of the 8.0 s the header states could not be decoded"), warning
    assert f"warning: {faults['inbox'] / 'damaged.flac'}: audio: 0.5 s of the 8.0 s" in faults["out"]
    assert damaged["duration_s"] == pytest.approx(7.5, abs=0.1)


def test_links_loops_and_pipes_are_named_in_the_summary(faults):
    out = faults["out"]
    assert f"skipped: {faults['inbox'] / 'loop'}: symbolic link loop" in out
    assert f"skipped: {faults['inbox'] / 'pipe.chat.json'}: a named pipe, not a regular file" in out


def test_a_file_changed_within_the_settle_period_waits_for_the_next_run(faults):
    assert f"waiting: {faults['inbox'] / 'fresh.chat.json'}: changed" in faults["out"]
    assert not rows(faults["db"], "SELECT 1 FROM conversations WHERE conversation_id = 'chat-fresh'")
    assert not rows(faults["db"], "SELECT 1 FROM failures WHERE source_path LIKE '%fresh.chat.json'")


def test_a_killed_run_is_marked_interrupted_at_the_next_start(faults):
    [killed] = rows(faults["db"], "SELECT status, settings FROM runs WHERE run_id = 'killed-run'")
    assert killed["status"] == "interrupted" and "killed?" in json.loads(killed["settings"])["interrupted"]
    assert "run killed-run was left 'running' by a process that is gone: marked interrupted" in faults["out"]
    assert {r["status"] for r in rows(faults["db"], "SELECT status FROM runs WHERE run_id <> 'killed-run'")} == {
        "completed"}


def test_a_second_run_takes_the_settled_file_and_follows_a_renamed_one(faults):
    inbox, db = faults["inbox"], faults["db"]
    os.utime(inbox / "fresh.chat.json", (LONG_AGO, LONG_AGO))
    (inbox / "chat_good.chat.json").rename(inbox / "renamed.chat.json")
    again = CliRunner().invoke(app, ["run", str(inbox), "--db", str(db), "--settle", "3600", "--cache-dir", ""])
    assert again.exit_code == 0, again.output
    out = " ".join(again.output.split())
    # the fresh chat is scored; the bad files are not tried again until they change, but a duplicate id is
    # refused again while the other file holds it
    assert "1 scored, 1 failed" in out and "same_id.chat.json: conversation id 'call-0001' is taken" in out, out
    [moved] = rows(db, "SELECT source_path FROM conversations WHERE conversation_id = 'chat-0001'")
    assert moved["source_path"] == str(inbox / "renamed.chat.json")
    assert f"moved: {inbox / 'chat_good.chat.json'} -> {inbox / 'renamed.chat.json'}" in out
    assert rows(db, "SELECT count(*) AS n FROM conversations WHERE conversation_id = 'chat-fresh'") == [{"n": 1}]


def test_an_id_with_slashes_has_its_page(faults):
    from fastapi.testclient import TestClient

    from qa.review.web.app import create_app

    client = TestClient(create_app(open_store(faults["db"]), REPO, auth_mode="none"), base_url="http://127.0.0.1")
    listed = client.get("/", params={"all": "1"}).text
    assert 'href="/conversations/team-south/2026/0042"' in listed
    page = client.get("/conversations/team-south/2026/0042")
    assert page.status_code == 200 and "team-south/2026/0042" in page.text
    api = client.get("/api/conversations/team-south/2026/0042")
    assert api.status_code == 200 and api.json()["conversation_id"] == "team-south/2026/0042"
    naive = client.get("/conversations/chat-naive").text
    assert "Предупреждение при чтении: times without a time zone read as Europe/Moscow time" in naive
    damaged = client.get("/conversations/call-damaged").text
    assert "Предупреждение при чтении: audio: 0.5 s of the 8.0 s the header states could not be decoded" in damaged


def test_a_wrong_model_path_stops_the_run_before_it_starts(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SAMPLES / "call_mono.ogg", inbox / "call.ogg")
    result = CliRunner().invoke(app, ["run", str(inbox), "--db", str(tmp_path / "qa.duckdb"), "--model",
                                      str(tmp_path / "no-such-model")])
    assert result.exit_code == 2
    assert "no-such-model" in result.output and "never downloads models" in " ".join(result.output.split())
    assert not (tmp_path / "qa.duckdb").exists()  # nothing started, nothing recorded as failed


def test_a_wrong_model_fails_the_flow_not_every_call(tmp_path):
    """The same check inside the flow, for runs that do not come through `qa run` (a served deployment)."""
    from qa.errors import ModelError
    from qa.flows.nightly import nightly_qa

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SAMPLES / "call_mono.ogg", inbox / "call.ogg")
    with pytest.raises(ModelError, match="no-such-model"):
        nightly_qa(inbox=str(inbox), db=str(tmp_path / "qa.duckdb"), rules=str(REPO / "scripts_rules"),
                   model=str(tmp_path / "no-such-model"), cache_dir=None)


def _as_unprivileged(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python -m qa.cli *args`` as a process that ``chmod 000`` keeps out: this user when not root; as root, root
    without the capabilities that let it read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    command = [sys.executable, "-m", "qa.cli", *args]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_an_unreadable_file_is_one_failure_and_the_night_goes_on(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("chat_good.chat.json", "chat_slow.chat.json", "transcript_example.transcript.json"):
        shutil.copy(SAMPLES / name, inbox / name)
    (inbox / "chat_slow.chat.json").chmod(0o000)
    closed = inbox / "closed"
    closed.mkdir()
    shutil.copy(SAMPLES / "chat_good.chat.json", closed / "inside.chat.json")
    closed.chmod(0o000)
    db = tmp_path / "qa.duckdb"
    try:
        result = _as_unprivileged(["run", str(inbox), "--db", str(db), "--cache-dir", ""], tmp_path)
    finally:
        closed.chmod(0o755)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    stored = {r["conversation_id"] for r in rows(db, "SELECT conversation_id FROM conversations")}
    assert stored == {"chat-0001", "transcript-0001"}
    failed = {Path(r["source_path"]).name: r for r in rows(db, "SELECT source_path, stage, error FROM failures")}
    assert set(failed) == {"chat_slow.chat.json", "closed"}
    assert failed["chat_slow.chat.json"]["stage"] == "read"
    assert "cannot be read: Permission denied" in failed["chat_slow.chat.json"]["error"]
    assert "folder cannot be read: Permission denied" in failed["closed"]["error"]
    assert "2 scored, 2 failed" in " ".join(result.stdout.split())


def test_a_model_that_cannot_be_loaded_is_named_in_each_calls_failure(tmp_path):
    """A model folder whose model.bin is damaged passes the path check; loading it fails in the chunk, and each call
    of the chunk is recorded with that error (it was «UnfinishedRun: Run is in PENDING state»), the chats go on."""
    model = tmp_path / "damaged-model"
    model.mkdir()
    (model / "model.bin").write_bytes(b"not a model")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SAMPLES / "call_mono.ogg", inbox / "call.ogg")
    shutil.copy(SAMPLES / "chat_good.chat.json", inbox / "chat.chat.json")
    db = tmp_path / "qa.duckdb"
    result = CliRunner().invoke(app, ["run", str(inbox), "--db", str(db), "--model", str(model), "--cache-dir", ""])
    assert result.exit_code == 0, result.output  # the chat was scored
    [failed] = rows(db, "SELECT source_path, error FROM failures")
    assert failed["source_path"] == str(inbox / "call.ogg")
    assert "the Whisper model cannot be loaded" in failed["error"] and "UnfinishedRun" not in failed["error"]
    assert [r["conversation_id"] for r in rows(db, "SELECT conversation_id FROM conversations")] == ["chat-0001"]
