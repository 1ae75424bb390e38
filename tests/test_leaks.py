"""Nothing leaks from the review page (issue #22, security 1, 2, 4, 5, 6), through the real app on a database made by
the real nightly flow, and a real `qa serve` for the Host check: security headers on every response, no page
answered for a host name it was not served on (DNS rebinding), metadata and script evidence masked like the text,
recordings beeped for whoever may not hear personal data, and every listening audited."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from test_web import LOCAL, REPO, signed_in

from qa.review.export import turn_words
from qa.review.web.app import create_app
from qa.speech.audio import decode_audio
from qa.store import open_store, queries

CONVERSATION_PAGES = ("/", "/conversations/call-0003", "/api/conversations", "/api/conversations/call-0003",
                      "/dashboard", "/rules", "/failures", "/audio/call-0003", "/export?limit=1",
                      "/search?q=деньги", "/trends")
METADATA = {"caller_number": "+7 916 555-12-34", "client_name": "Смирнова Ольга Петровна",
            "client_email": "olga.smirnova@mail.ru", "queue": "billing", "crm": {"contact": {"phone": "89035551234"}}}
SECRETS = ("555-12-34", "5551234", "Смирнова", "olga.smirnova")


def audit_rows(db: Path, action: str) -> list[tuple]:
    return open_store(db).query("SELECT username, conversation_id, detail FROM audit WHERE action = ? "
                                "ORDER BY logged_at", [action])[1]


# --- 1. headers ----------------------------------------------------------------------------------------------


def test_every_response_carries_the_security_headers(sample_db):
    client = signed_in(sample_db, "boss", pii=True)
    anonymous = TestClient(create_app(open_store(sample_db), REPO), base_url=LOCAL)
    responses = {path: client.get(path) for path in CONVERSATION_PAGES}
    responses |= {"/no-such-page": client.get("/no-such-page"), "/login": anonymous.get("/login"),
                  "/static/app.js": client.get("/static/app.js"),
                  "POST /api/reviews": client.post("/api/reviews", json={"conversation_id": "nope"})}
    for path, response in responses.items():
        assert response.status_code in (200, 400, 404), (path, response.status_code)
        headers = response.headers
        policy = headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, path
        assert headers.get("x-frame-options") == "DENY", path
        assert headers.get("x-content-type-options") == "nosniff", path
        assert headers.get("referrer-policy") == "same-origin", path
        if path.startswith("/static/"):
            assert "no-store" not in headers.get("cache-control", ""), path  # the page's own files may be cached
        else:
            assert headers.get("cache-control") == "no-store", path


def test_pages_hold_no_inline_script_or_style_the_policy_would_block(sample_db):
    client = signed_in(sample_db, "boss", pii=True)
    for path in ("/", "/conversations/call-0003", "/conversations/chat-0002", "/dashboard", "/rules", "/failures",
                 "/users", "/login", "/no-such-page", "/search?q=вернуть+деньги", "/trends"):
        page = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", page), path


# --- 2. DNS rebinding ----------------------------------------------------------------------------------------


def test_a_page_asked_for_another_host_is_refused_in_every_mode(sample_db):
    body = {"conversation_id": "call-0003", "verdict": "confirmed", "reviewer": "rebound"}
    for options in ({"auth_mode": "none"}, {}, {"auth_mode": "proxy", "proxy_header": "X-Remote-User"}):
        app = create_app(open_store(sample_db), REPO, **options)
        for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", "localhost.evil.example"):
            rebound = TestClient(app, base_url=LOCAL, headers={"Host": host})
            page = rebound.get("/")
            assert page.status_code == 400 and "DNS rebinding" in page.text, (options, host)
            assert "x-frame-options" in page.headers
            assert rebound.post("/api/reviews", json=body, headers={"X-CSRF-Token": "x"}).status_code == 400
        assert TestClient(app, base_url="http://localhost:8765").get("/login").status_code != 400
    assert open_store(sample_db).query("SELECT count(*) FROM reviews")[1][0][0] == 0
    named = create_app(open_store(sample_db), REPO, auth_mode="none",
                       allowed_hosts=("qa.example.com", "*.corp.example"))
    assert TestClient(named, base_url="http://qa.example.com").get("/").status_code == 200
    assert TestClient(named, base_url="http://team.corp.example:8080").get("/").status_code == 200
    assert TestClient(named, base_url="http://corp.example.evil").get("/").status_code == 400
    assert TestClient(named, base_url=LOCAL).get("/").status_code == 400  # not in this app's list


@pytest.mark.parametrize(("bound", "extra", "host", "answered"), [
    ("127.0.0.1", (), "127.0.0.1:8765", True),
    ("127.0.0.1", (), "localhost:8765", True),
    ("127.0.0.1", (), "[::1]:8765", True),
    ("127.0.0.1", (), "LOCALHOST", True),
    ("127.0.0.1", (), "rebind.attacker.example:8765", False),
    ("127.0.0.1", (), "127.0.0.1.nip.io", False),
    ("127.0.0.1", (), "", False),
    ("10.0.0.5", (), "10.0.0.5:8765", True),
    ("10.0.0.5", (), "localhost:8765", False),
    ("0.0.0.0", (), "localhost", True),
    ("127.0.0.1", ("qa.example.com",), "qa.example.com", True),
    ("127.0.0.1", ("*.corp.example",), "qa.corp.example:443", True),
    ("127.0.0.1", ("*.corp.example",), "corp.example", False),
    ("127.0.0.1", ("*.corp.example",), "evilcorp.example", False),
])
def test_host_names_answered(bound, extra, host, answered):
    from qa.review.web.guards import bound_host_names, check_allowed_host, host_allowed

    allowed = [*bound_host_names(bound), *(check_allowed_host(h) for h in extra)]
    assert host_allowed(host, allowed) is answered


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, host: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_qa_serve_no_auth_answers_only_its_own_and_configured_names(sample_db, tmp_path):
    """A real `qa serve --no-auth` on 127.0.0.1 with one more name from qa.toml (allowed_hosts): a rebound name
    gets 400, the bound and configured ones the page."""
    (tmp_path / "qa.toml").write_text('[qa]\nallowed_hosts = ["qa.internal"]\n', encoding="utf-8")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--db", str(sample_db), "--port", str(port),
                             "--no-auth", "--audio-root", str(REPO)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _get(url, f"127.0.0.1:{port}")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"qa serve did not start: {proc.communicate()[0]}")
            time.sleep(0.2)
        assert _get(url, f"localhost:{port}")[0] == 200
        assert _get(url, "qa.internal")[0] == 200
        status, text = _get(url + "api/conversations/call-0003", f"attacker.example:{port}")
        assert status == 400 and "call-0003" not in text and "DNS rebinding" in text
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    assert "qa.internal" in output and "127.0.0.1" in output  # says which names it answers


def test_a_wildcard_allowed_host_is_refused(sample_db):
    result = subprocess.run([sys.executable, "-m", "qa.cli", "serve", "--db", str(sample_db), "--no-auth",
                             "--allowed-host", "*"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "DNS rebinding" in " ".join(result.stderr.split())


# --- 4. metadata ---------------------------------------------------------------------------------------------


def _with_metadata(db: Path) -> None:
    with open_store(db).connect() as con:
        con.execute("UPDATE conversations SET metadata = ? WHERE conversation_id = 'call-0003'",
                    [json.dumps(METADATA, ensure_ascii=False)])


def test_metadata_is_masked_for_every_role_without_the_pii_permission(sample_db):
    _with_metadata(sample_db)
    trainer = signed_in(sample_db, "coach", "trainer")
    lead = signed_in(sample_db, "south-lead", "team_lead", ("team-south",))
    boss = signed_in(sample_db, "boss", pii=True)
    for client in (trainer, lead, boss):
        api = client.get("/api/conversations/call-0003")
        page = client.get("/conversations/call-0003")
        assert api.status_code == page.status_code == 200
        for secret in SECRETS:
            assert secret not in api.text and secret not in page.text, secret
        meta = api.json()["metadata"]
        assert meta["caller_number"] == "[ТЕЛЕФОН]" and meta["client_name"] == "[ИМЯ]"
        assert meta["client_email"] == "[ПОЧТА]" and meta["queue"] == "billing"
        assert meta["crm"]["contact"]["phone"] == "[ТЕЛЕФОН]"
        assert 'data-key="caller_number"' in page.text and "[ТЕЛЕФОН]" in page.text
    for client in (trainer, lead):
        assert client.get("/api/conversations/call-0003", params={"pii": "1"}).status_code == 403
    clear = boss.get("/api/conversations/call-0003", params={"pii": "1"}).json()["metadata"]
    assert clear == METADATA
    assert "Смирнова" in boss.get("/conversations/call-0003", params={"pii": "1"}).text
    assert [r[:2] for r in audit_rows(sample_db, "pii_shown")] == [("boss", "call-0003")] * 2


def test_list_rows_mask_the_recording_file_name(sample_db, tmp_path):
    named = tmp_path / "in-79165551234-20261127.flac"
    with open_store(sample_db).connect() as con:
        con.execute("UPDATE conversations SET source_path = ? WHERE conversation_id = 'call-0003'", [str(named)])
    lead = signed_in(sample_db, "south-lead", "team_lead", ("team-south",))
    rows = lead.get("/api/conversations", params={"all": "1"}).json()["conversations"]
    [row] = [r for r in rows if r["conversation_id"] == "call-0003"]
    assert "5551234" not in row["source_path"] and row["source_path"].endswith(".flac")
    page = lead.get("/conversations/call-0003").text  # the file is missing: the page names it, masked
    assert "Файл записи не найден" in page and "5551234" not in page


# --- 5. script evidence --------------------------------------------------------------------------------------


def test_a_name_the_script_heard_is_masked_where_the_transcript_is(sample_db):
    lead = signed_in(sample_db, "north-lead", "team_lead", ("team-north",))
    step = next(s for s in queries.conversation(open_store(sample_db), "call-0001")["script"]
                if s["step"] == "introduction")
    assert step["reason"] == "name heard: «Анна»"  # what the real flow stored
    page = lead.get("/conversations/call-0001").text
    api = lead.get("/api/conversations/call-0001").json()
    assert "«Анна»" not in page and "Анна" not in re.sub(r"op-anna", "", page)
    assert "Названо имя «[ИМЯ]»" in page
    [masked] = [s for s in api["script"] if s["step"] == "introduction"]
    assert masked["reason"] == "name heard: «[ИМЯ]»" and "Анна" not in masked["quote"]
    assert "Анна" not in json.dumps(api, ensure_ascii=False).replace("op-anna", "")
    boss = signed_in(sample_db, "boss", pii=True)
    assert "Названо имя «Анна»" in boss.get("/conversations/call-0001", params={"pii": "1"}).text


def test_comments_and_finding_details_are_masked_too(sample_db):
    from qa.store import Review

    finding = next(f for f in queries.conversation(open_store(sample_db), "call-0003")["findings"]
                   if f["rule_id"] == "escalation_complaint")
    open_store(sample_db).add_review(Review("call-0003", "confirmed", "тренер", finding["finding_key"],
                                            "клиентка Смирнова оставила номер 8 916 555 12 34"))
    with open_store(sample_db).connect() as con:
        con.execute("UPDATE current_findings SET details = ? WHERE finding_key = ?",
                    [json.dumps({"matched": "жалоба", "hold_quote": "Смирнова Ольга, 89165551234"},
                                ensure_ascii=False), finding["finding_key"]])
    lead = signed_in(sample_db, "south-lead", "team_lead", ("team-south",))
    for response in (lead.get("/conversations/call-0003"), lead.get("/api/conversations/call-0003")):
        for secret in ("Смирнова", "555 12 34", "5551234"):
            assert secret not in response.text, secret


# --- 6. audio ------------------------------------------------------------------------------------------------


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[np.argmax(spectrum)])


def test_recordings_are_beeped_without_the_pii_permission_and_every_listening_is_audited(sample_db, tmp_path):
    from qa.text.redaction import get_redactor

    lead = signed_in(sample_db, "south-lead", "team_lead", ("team-south",))
    beeped = lead.get("/audio/call-0003")
    assert beeped.status_code == 200 and beeped.headers["content-type"] == "audio/wav"
    (tmp_path / "beeped.wav").write_bytes(beeped.content)
    heard = decode_audio(tmp_path / "beeped.wav")
    detail = queries.conversation(open_store(sample_db), "call-0003")
    original = decode_audio(Path(detail["source_path"]))
    assert abs(heard.duration_s - original.duration_s) < 0.1
    ranges = get_redactor().mute_ranges((u["text"], turn_words(u), u["start_s"], u["end_s"])
                                        for u in detail["utterances"])
    assert len(ranges) >= 2  # the operator's name, the client's phone number
    rate = heard.sample_rate
    for start, end in ranges:
        a, b = int(start * rate) + 400, int(end * rate) - 400
        for heard_channel, original_channel in zip(heard.channels, original.channels, strict=True):
            assert dominant_hz(heard_channel[a:b], rate) == pytest.approx(1000, abs=30)
            assert not np.allclose(heard_channel[a:b], original_channel[a:b], atol=0.05)
    gap = next(end for (_, end), (start, _) in pairwise(ranges) if start - end > 2)
    a, b = int((gap + 0.5) * rate), int((gap + 1.5) * rate)
    for heard_channel, original_channel in zip(heard.channels, original.channels, strict=True):
        assert np.allclose(heard_channel[a:b], original_channel[a:b], atol=2e-3)  # the rest: as recorded
    # Seeking within the same listening is one more range request, not one more listening.
    part = lead.get("/audio/call-0003", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == beeped.content[1000:2000]
    # Only a supervisor with the PII permission hears it as recorded, and only when asking for it.
    assert lead.get("/audio/call-0003", params={"pii": "1"}).status_code == 403
    plain_boss = signed_in(sample_db, "boss")
    assert plain_boss.get("/audio/call-0003").headers["content-type"] == "audio/wav"
    assert plain_boss.get("/audio/call-0003", params={"pii": "1"}).status_code == 403
    cleared = signed_in(sample_db, "dpo", pii=True)
    assert cleared.get("/audio/call-0003").content == beeped.content
    clear = cleared.get("/audio/call-0003", params={"pii": "1"}, headers={"Range": "bytes=0-"})
    assert clear.content[:4] == b"fLaC"
    assert cleared.get("/conversations/call-0003", params={"pii": "1"}).text.count(
        'src="/audio/call-0003?pii=1"') == 1
    assert 'src="/audio/call-0003"' in lead.get("/conversations/call-0003").text
    rows = audit_rows(sample_db, "audio_played")
    assert [(user, cid, detail.split(" ")[0]) for user, cid, detail in rows] == [
        ("south-lead", "call-0003", "beeped"), ("boss", "call-0003", "beeped"), ("dpo", "call-0003", "beeped"),
        ("dpo", "call-0003", "clear")]


def test_split_legs_are_beeped_on_both_channels(tmp_path):
    """A call recorded as split PBX legs (-in/-out) is served as one stereo WAV, beeped on both legs alike."""
    from qa.review.web.media import recording_wav
    from qa.speech.audio import encode_audio

    rate = 16000
    t = np.arange(3 * rate) / rate
    legs = []
    for name, hz in (("in", 300.0), ("out", 450.0)):
        (tmp_path / f"call-{name}.wav").write_bytes(encode_audio([(0.3 * np.sin(2 * np.pi * hz * t)).astype(
            np.float32)], rate, "wav"))
        legs.append(tmp_path / f"call-{name}.wav")
    (tmp_path / "beeped.wav").write_bytes(recording_wav(legs, ((1.0, 2.0),)))
    (tmp_path / "plain.wav").write_bytes(recording_wav(legs))
    heard, plain = decode_audio(tmp_path / "beeped.wav"), decode_audio(tmp_path / "plain.wav")
    assert len(heard.channels) == len(plain.channels) == 2
    for channel, clear, hz in zip(heard.channels, plain.channels, (300, 450), strict=True):
        assert dominant_hz(channel[int(1.1 * rate):int(1.9 * rate)], rate) == pytest.approx(1000, abs=30)
        assert dominant_hz(channel[int(0.1 * rate):int(0.9 * rate)], rate) == pytest.approx(hz, abs=30)
        assert dominant_hz(clear[int(1.1 * rate):int(1.9 * rate)], rate) == pytest.approx(hz, abs=30)


# --- 3. qa sql -----------------------------------------------------------------------------------------------


def qa_sql(db: Path, *args: str, password: str | None = None):
    """`qa sql` through the real command line app (in this process: a new process per query would cost seconds)."""
    from typer.testing import CliRunner

    from qa.cli import app

    return CliRunner().invoke(app, ["sql", *args, "--db", str(db), *(["--password", password] if password else [])])


SQL_ATTACKS = {
    "SELECT * FROM read_text('/etc/shadow')": "file system operations are disabled",
    "SELECT * FROM read_csv('/etc/passwd')": "file system operations are disabled",
    "COPY (SELECT username, password_hash FROM users) TO '{out}'": "read-only",
    "COPY conversations TO '{out}'": "read-only",
    "ATTACH '{out}' AS other": "read-only",
    "INSTALL httpfs": "read-only",
    "LOAD '{out}'": "read-only",
    "SET enable_external_access = true": "read-only",
    "EXPORT DATABASE '{out}'": "read-only",
    "SELECT 1; COPY users TO '{out}'": "one statement",
    "SELECT username, password_hash FROM users": "account table",
    "SELECT count(*) FROM sessions": "account table",
    "SELECT * FROM audit": "account table",
    "SELECT * FROM query_table('users')": "account table",
    "SELECT * FROM query('SELECT token_hash FROM sessions')": "account table",
    "SELECT c.conversation_id FROM conversations c JOIN users u ON u.username = c.operator_id": "account table",
    "SUMMARIZE users": "account table",
    "SELECT * FROM pragma_storage_info('users')": "pragma_storage_info",
    "SELECT * FROM duckdb_table_sample('users')": "duckdb_table_sample",
    "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT password_hash FROM users'))":
        "json_execute_serialized_sql",
}


def test_qa_sql_reads_the_store_and_nothing_else(sample_db, tmp_path):
    from qa.review import auth

    auth.add_user(open_store(sample_db), "root", "correct horse battery", "admin")
    out = tmp_path / "stolen.csv"
    for attack, words in SQL_ATTACKS.items():
        result = qa_sql(sample_db, attack.format(out=out))
        assert result.exit_code == 2, (attack, result.stdout)
        assert words in " ".join(result.stderr.split()), (attack, result.stderr)
        assert "$argon2" not in result.output and "root:" not in result.output, attack
        assert not out.exists(), attack
    assert len(open_store(sample_db).query("SELECT * FROM users")[1]) == 1  # nothing written either


def test_qa_sql_answers_questions_and_opens_the_account_tables_only_to_an_admin(sample_db):
    from qa.review import auth

    auth.add_user(open_store(sample_db), "root", "correct horse battery", "admin")
    auth.add_user(open_store(sample_db), "boss", "correct horse battery", "supervisor")
    question = ("SELECT team, sum(flagged) AS flagged FROM daily_scores GROUP BY ALL ORDER BY team; "
                "-- a trailing comment")
    answer = qa_sql(sample_db, question, "--format", "csv")
    assert answer.exit_code == 0, answer.stderr
    assert answer.stdout.split() == ["team,flagged", "team-north,0", "team-south,4"]
    described = qa_sql(sample_db, "SELECT table_name FROM information_schema.tables ORDER BY 1", "--format", "csv")
    assert described.exit_code == 0 and "conversations" in described.stdout
    accounts = "SELECT username, role FROM users ORDER BY username"
    assert "--admin" in qa_sql(sample_db, accounts, "--include-accounts").stderr
    wrong = qa_sql(sample_db, accounts, "--include-accounts", "--admin", "root", password="guessed password")
    assert wrong.exit_code == 2 and "wrong name or password" in wrong.stderr
    not_admin = qa_sql(sample_db, accounts, "--include-accounts", "--admin", "boss", password="correct horse battery")
    assert not_admin.exit_code == 2 and "only an admin" in not_admin.stderr
    admin = qa_sql(sample_db, accounts, "--include-accounts", "--admin", "root", "--format", "csv",
                   password="correct horse battery")
    assert admin.exit_code == 0, admin.stderr
    assert admin.stdout.split() == ["username,role", "boss,supervisor", "root,admin"]
    still_locked = qa_sql(sample_db, "SELECT * FROM read_text('/etc/passwd')", "--include-accounts", "--admin",
                          "root", password="correct horse battery")
    assert still_locked.exit_code == 2 and "root:" not in still_locked.stdout
    rows = audit_rows(sample_db, "sql_accounts")
    assert [(user, detail) for user, _, detail in rows] == [("root", accounts),
                                                             ("root", "SELECT * FROM read_text('/etc/passwd')")]
    failed = open_store(sample_db).query("SELECT detail FROM audit WHERE action = 'login_failed'")[1]
    assert failed == [("wrong password",)]
    assert [r[0] for r in audit_rows(sample_db, "sql_accounts_refused")] == ["boss"]
