"""Security of the review page through the real app (TestClient) on a database made by the real nightly flow:
sign-in, CSRF, team scoping (IDOR), stored XSS, path traversal, SQL injection, brute-force lockout, PII masking
and the audit trail."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from test_web import LOCAL, PASSWORD, REPO, signed_in
from typer.testing import CliRunner

from qa.cli import app as cli_app
from qa.review import auth
from qa.review.web.app import create_app
from qa.store import open_store
from qa.store.current import refresh_current

NORTH = {"call-0001", "call-0004", "chat-0001"}  # team-north's conversations in the samples
PHONE = "+7 916 123-45-67"


def audit_actions(db: Path) -> list[tuple]:
    return open_store(db).query("SELECT username, action, conversation_id FROM audit ORDER BY logged_at")[1]


def listed(client: TestClient, **params) -> set[str]:
    response = client.get("/", params=params)
    assert response.status_code == 200, response.text
    return set(re.findall(r'<tr data-id="([^"]+)"', response.text))


def test_nothing_is_served_without_signing_in(sample_db):
    auth.add_user(open_store(sample_db), "boss", PASSWORD, "supervisor")
    anonymous = TestClient(create_app(open_store(sample_db), REPO), base_url=LOCAL)
    page = anonymous.get("/conversations/call-0003", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
    for path in ("/api/conversations", "/api/conversations/call-0003", "/audio/call-0003"):
        assert anonymous.get(path).status_code == 401, path
    anonymous.cookies.set("qa_session", "guessed-token")
    forged = anonymous.get("/", follow_redirects=False)
    assert forged.status_code == 303


def test_session_cookie_is_http_only_and_same_site(sample_db):
    auth.add_user(open_store(sample_db), "boss", PASSWORD, "supervisor")
    client = TestClient(create_app(open_store(sample_db), REPO, secure_cookies=True), base_url="https://127.0.0.1")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"username": "boss", "password": PASSWORD, "csrf_token": token},
                           follow_redirects=False)
    cookie = response.headers["set-cookie"].lower()
    assert "qa_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
    assert ("boss", "login", None) in audit_actions(sample_db)


def test_wrong_passwords_lock_the_account(sample_db):
    auth.add_user(open_store(sample_db), "boss", PASSWORD, "supervisor")
    client = TestClient(create_app(open_store(sample_db), REPO), base_url=LOCAL)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)

    def attempt(password: str) -> int:
        return client.post("/login", data={"username": "boss", "password": password, "csrf_token": token},
                           follow_redirects=False).status_code

    statuses = [attempt(f"guess-{i}-wrong") for i in range(auth.MAX_FAILED_LOGINS)]
    assert statuses[:-1] == [401] * (auth.MAX_FAILED_LOGINS - 1) and statuses[-1] == 429
    assert attempt(PASSWORD) == 429  # the right password does not help while locked
    assert "qa_session" not in client.cookies
    actions = [a for u, a, _ in audit_actions(sample_db) if u == "boss"]
    assert actions.count("login_failed") == auth.MAX_FAILED_LOGINS and "login_locked" in actions
    auth.set_password(open_store(sample_db), "boss", PASSWORD)  # an admin unlocks it
    assert attempt(PASSWORD) == 303


def test_many_account_names_from_one_client_are_throttled(sample_db):
    client = TestClient(create_app(open_store(sample_db), REPO), base_url=LOCAL)
    auth.add_user(open_store(sample_db), "boss", PASSWORD, "supervisor")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    statuses = [client.post("/login", data={"username": f"user{i}", "password": "x" * 12, "csrf_token": token}
                            ).status_code for i in range(21)]
    assert statuses[-1] == 429 and statuses[0] == 401


def test_csrf_is_required_on_every_state_changing_route(sample_db):
    client = signed_in(sample_db, "boss")
    body = {"conversation_id": "call-0003", "verdict": "confirmed"}
    good = client.headers.pop("X-CSRF-Token")
    assert client.post("/api/reviews", json=body).status_code == 403
    assert client.post("/api/reviews", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    cross = client.post("/api/reviews", json=body, headers={"X-CSRF-Token": good, "Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert open_store(sample_db).query("SELECT count(*) FROM reviews")[1][0][0] == 0
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get("/api/conversations").status_code == 200  # still signed in
    fresh = TestClient(create_app(open_store(sample_db), REPO), base_url=LOCAL)
    no_token = fresh.post("/login", data={"username": "boss", "password": PASSWORD}, follow_redirects=False)
    assert no_token.status_code == 403 and "qa_session" not in fresh.cookies
    assert client.post("/api/reviews", json=body, headers={"X-CSRF-Token": good}).status_code == 201
    assert client.post("/logout", data={"csrf_token": good}, follow_redirects=False).status_code == 303
    assert client.get("/api/conversations").status_code == 401  # the session is gone on the server too


def test_team_lead_sees_only_their_team(sample_db):
    lead = signed_in(sample_db, "north-lead", "team_lead", ("team-north",))
    assert listed(lead, all="1") == NORTH
    assert lead.get("/", params={"team": "team-south"}).status_code == 403
    for path in ("/conversations/call-0003", "/api/conversations/call-0003", "/audio/call-0003"):
        response = lead.get(path)
        assert response.status_code == 403, path
        assert "жалоб" not in response.text
    assert lead.get("/conversations/call-0001").status_code == 200
    api = lead.get("/api/conversations", params={"all": "1"}).json()
    assert {c["conversation_id"] for c in api["conversations"]} == NORTH
    dashboard = lead.get("/dashboard").text
    assert "op-igor" not in dashboard  # team-south's operator
    assert lead.get("/dashboard", params={"team": "team-south"}).status_code == 403
    review = lead.post("/api/reviews", json={"conversation_id": "call-0003", "verdict": "confirmed"})
    assert review.status_code == 403
    assert open_store(sample_db).query("SELECT count(*) FROM reviews")[1][0][0] == 0
    assert lead.get("/failures").status_code == 403 and lead.get("/users").status_code == 403


def test_trainer_gets_masked_text_and_no_recordings(sample_db):
    with open_store(sample_db).connect() as con:
        con.execute("UPDATE utterances SET text = ?, words = NULL WHERE conversation_id = 'call-0003' AND idx = 0",
                    [f"Мой номер {PHONE}, запишите"])
    trainer = signed_in(sample_db, "coach", "trainer")
    page = trainer.get("/conversations/call-0003")
    assert page.status_code == 200
    assert "916" not in page.text and "[ТЕЛЕФОН]" in page.text
    assert "<audio" not in page.text
    assert trainer.get("/audio/call-0003").status_code == 403
    assert trainer.get("/dashboard").status_code == 403
    assert trainer.get("/conversations/call-0003", params={"pii": "1"}).status_code == 403
    assert trainer.post("/api/reviews", json={"conversation_id": "call-0003", "verdict": "confirmed"}
                        ).status_code == 403
    assert "916" not in trainer.get("/api/conversations/call-0003").text


def test_showing_personal_data_needs_the_permission_and_is_audited(sample_db):
    with open_store(sample_db).connect() as con:
        con.execute("UPDATE utterances SET text = ?, words = NULL WHERE conversation_id = 'call-0003' AND idx = 0",
                    [f"Мой номер {PHONE}, запишите"])
    plain = signed_in(sample_db, "boss", "supervisor")
    assert PHONE not in plain.get("/conversations/call-0003").text
    assert plain.get("/conversations/call-0003", params={"pii": "1"}).status_code == 403
    cleared = signed_in(sample_db, "dpo", "supervisor", pii=True)
    masked = cleared.get("/conversations/call-0003").text
    assert PHONE not in masked and 'href="?pii=1"' in masked
    assert ("dpo", "pii_shown", "call-0003") not in audit_actions(sample_db)
    assert PHONE in cleared.get("/conversations/call-0003", params={"pii": "1"}).text
    assert ("dpo", "pii_shown", "call-0003") in audit_actions(sample_db)


def test_verdicts_are_audited_with_the_signed_in_name(sample_db):
    client = signed_in(sample_db, "boss")
    response = client.post("/api/reviews", json={"conversation_id": "chat-0002", "verdict": "confirmed",
                                                 "reviewer": "someone else"})
    assert response.status_code == 201 and response.json()["reviewer"] == "boss"
    assert open_store(sample_db).query("SELECT reviewer FROM reviews")[1] == [("boss",)]
    assert ("boss", "verdict", "chat-0002") in audit_actions(sample_db)


EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
EVIL_ID = '"><img src=x onerror=alert(1)>'  # no slash: it travels in the address


def test_stored_xss_through_text_operator_team_and_id_is_escaped(sample_db):
    with open_store(sample_db).connect() as con:
        con.execute("UPDATE utterances SET text = ?, words = NULL WHERE conversation_id = 'call-0003'", [EVIL])
        con.execute("UPDATE findings SET quote = ? WHERE conversation_id = 'call-0003'", [EVIL])
        con.execute("UPDATE conversations SET team = ?, operator_id = ? WHERE conversation_id = 'call-0003'",
                    [EVIL, EVIL])
        for table in ("conversations", "scores"):
            con.execute(f"INSERT INTO {table} SELECT * REPLACE (? AS conversation_id) FROM {table} "
                        "WHERE conversation_id = 'call-0002'", [EVIL_ID])
        refresh_current(con)  # hand edits of the base tables: rebuild the current results
    client = signed_in(sample_db, "boss")
    pages = [client.get("/", params={"all": "1"}), client.get("/conversations/call-0003"),
             client.get("/dashboard"), client.get(f"/conversations/{quote(EVIL_ID)}")]
    api = client.get(f"/api/conversations/{quote(EVIL_ID)}")
    for response in pages:
        assert "<script>alert" not in response.text and "<img src=x" not in response.text, response.url
    assert "&lt;script&gt;" in pages[0].text and "&lt;script&gt;" in pages[1].text
    assert pages[3].status_code == 200 and "&lt;img src=x" in pages[3].text  # a real conversation, escaped
    assert api.headers["content-type"] == "application/json" and api.json()["conversation_id"] == EVIL_ID


@pytest.mark.parametrize("path", [
    "/audio/..%2F..%2F..%2Fetc%2Fpasswd", "/audio/../../etc/passwd", "/static/..%2F..%2Fauth.py",
    "/static/../../qa/auth.py", "/audio/%2e%2e%2fpyproject.toml", "/conversations/..%2F..%2Fetc%2Fpasswd",
    "/export/..%2F..%2Fetc%2Fpasswd", "/export?operator=..%2F..%2F..%2Fetc%2Fpasswd&team=..%2F..%2Fpyproject.toml",
])
def test_path_traversal_reads_no_file(sample_db, path):
    client = signed_in(sample_db, "boss")
    response = client.get(path)
    assert response.status_code in (403, 404) or (path.startswith("/export?") and response.status_code == 200), \
        (path, response.status_code)
    assert "root:" not in response.text and "argon2" not in response.text and "[project]" not in response.text


def test_stored_source_path_outside_the_audio_root_is_not_a_way_out(sample_db):
    # source_path comes from the nightly flow, not from the request; a request can only name a conversation.
    client = signed_in(sample_db, "boss")
    response = client.get("/audio/call-0003%2F..%2F..%2Fpyproject.toml")
    assert response.status_code == 404 and "[project]" not in response.text


@pytest.mark.parametrize("evil", ["x' OR '1'='1", "'; DROP TABLE users; --", "team-north' OR team <> '",
                                  "%' OR 1=1 --"])
def test_sql_injection_through_every_filter(sample_db, evil):
    lead = signed_in(sample_db, "north-lead", "team_lead", ("team-north",))
    boss = signed_in(sample_db, "boss")
    for key in ("operator", "rule", "category"):
        assert listed(boss, **{key: evil, "all": "1"}) == set(), key
        assert listed(lead, **{key: evil, "all": "1"}) == set(), key
        assert boss.get("/dashboard", params={key: evil}).status_code == 200
        assert boss.get("/export", params={key: evil}).status_code == 200
    assert boss.get("/", params={"team": evil, "all": "1"}).status_code == 200
    assert listed(boss, team=evil, all="1") == set()
    assert lead.get("/", params={"team": evil}).status_code == 403
    for key in ("since", "until", "min_score", "max_score", "sort", "order", "page", "size", "channel", "all"):
        assert boss.get("/api/conversations", params={key: evil}).status_code == 400, key
    assert open_store(sample_db).query("SELECT count(*) FROM users")[1][0][0] == 2
    assert open_store(sample_db).query("SELECT count(*) FROM conversations")[1][0][0] == 7


def test_admin_manages_accounts_but_reads_no_conversation(sample_db):
    admin = signed_in(sample_db, "root", "admin")
    assert "root" in admin.get("/users").text
    for path in ("/conversations/call-0003", "/api/conversations", "/dashboard", "/audio/call-0003"):
        assert admin.get(path).status_code == 403, path


def test_proxy_header_is_trusted_only_for_known_users(sample_db):
    auth.add_user(open_store(sample_db), "north-lead", PASSWORD, "team_lead", ("team-north",))
    client = TestClient(create_app(open_store(sample_db), REPO, auth_mode="proxy", proxy_header="X-Remote-User"),
                        base_url=LOCAL)
    assert client.get("/").status_code == 403
    assert client.get("/", headers={"X-Remote-User": "stranger"}).status_code == 403
    response = client.get("/", params={"all": "1"}, headers={"X-Remote-User": "north-lead"})
    assert set(re.findall(r'<tr data-id="([^"]+)"', response.text)) == NORTH
    assert client.get("/conversations/call-0003", headers={"X-Remote-User": "north-lead"}).status_code == 403


def test_error_pages_speak_russian(sample_db):
    client = signed_in(sample_db, "boss")
    missing = client.get("/conversations/call-9999")
    assert missing.status_code == 404 and "Не найдено" in missing.text and "не найден" in missing.text
    assert "Такой страницы нет" in client.get("/no-such-page").text
    lead = signed_in(sample_db, "north-lead", "team_lead", ("team-north",))
    assert "Доступ запрещён" in lead.get("/conversations/call-0003").text


def test_missing_recording_is_said_on_the_page(sample_db, tmp_path):
    with open_store(sample_db).connect() as con:
        con.execute("UPDATE conversations SET source_path = ? WHERE conversation_id = 'call-0003'",
                    [str(tmp_path / "gone.flac")])
    page = signed_in(sample_db, "boss").get("/conversations/call-0003").text
    assert "Файл записи не найден" in page and "gone.flac" in page and "<audio" not in page


def test_purged_recording_is_said_on_the_page(sample_db):
    from datetime import timedelta

    from qa.store.retention import purge

    with open_store(sample_db).connect() as con:
        con.execute("UPDATE conversations SET started_at = TIMESTAMPTZ '2020-01-01 10:00:00+03:00' "
                    "WHERE conversation_id = 'call-0003'")
    assert purge(open_store(sample_db), timedelta(days=180)).conversations == 1
    client = signed_in(sample_db, "boss")
    page = client.get("/conversations/call-0003")
    assert page.status_code == 200
    assert "Запись удалена по сроку хранения" in page.text and "<audio" not in page.text
    audio = client.get("/audio/call-0003")
    assert audio.status_code == 404 and "retention purge" in audio.json()["detail"]


def test_failures_are_listed_for_supervisors(sample_db):
    with open_store(sample_db).connect() as con:
        con.execute("INSERT INTO failures VALUES ('inbox/broken.json', 'r1', 'read', 'bad JSON', NULL, now())")
    page = signed_in(sample_db, "boss").get("/failures").text
    assert 'data-source="inbox/broken.json"' in page and "bad JSON" in page


def test_a_failure_later_stored_is_listed_as_resolved_only_when_asked(sample_db):
    with open_store(sample_db).connect() as con:
        [(source, ingested)] = con.execute("SELECT source_path, ingested_at FROM conversations "
                                           "ORDER BY conversation_id LIMIT 1").fetchall()
        con.execute("INSERT INTO failures VALUES (?, 'r0', 'decode', 'truncated audio', NULL, "
                    "?::TIMESTAMPTZ - INTERVAL 1 DAY)", [source, ingested])
        con.execute("INSERT INTO failures VALUES ('inbox/still_broken.json', 'r1', 'parse', 'bad JSON', NULL, now())")
    client = signed_in(sample_db, "boss")
    page = client.get("/failures").text
    assert 'data-source="inbox/still_broken.json"' in page and f'data-source="{source}"' not in page
    everything = client.get("/failures?all=1").text
    assert f'data-source="{source}" class="resolved"' in everything and "truncated audio" in everything
    assert 'data-source="inbox/still_broken.json">' in everything  # not resolved: no mark


runner = CliRunner()


@pytest.mark.parametrize(("args", "words"), [
    (["--host", "0.0.0.0"], "refusing to serve 0.0.0.0 without any account"),
    ([], "no accounts yet"),
])
def test_serve_refuses_without_accounts(sample_db, args, words):
    result = runner.invoke(cli_app, ["serve", "--db", str(sample_db), *args])
    assert result.exit_code == 2
    assert words in " ".join(result.output.split())


def test_users_commands_add_list_passwd_remove(sample_db):
    db = str(sample_db)
    assert runner.invoke(cli_app, ["users", "add", "lead", "--db", db, "--role", "team_lead", "--team", "team-north",
                                   "--password", PASSWORD]).exit_code == 0
    weak = runner.invoke(cli_app, ["users", "add", "weak", "--db", db, "--password", "123"])
    assert weak.exit_code == 2 and "at least" in weak.output
    no_team = runner.invoke(cli_app, ["users", "add", "x", "--db", db, "--role", "team_lead", "--password", PASSWORD])
    assert no_team.exit_code == 2 and "team" in no_team.output
    listing = runner.invoke(cli_app, ["users", "list", "--db", db]).output
    assert "lead" in listing and "team-north" in listing
    hash_ = open_store(sample_db).query("SELECT password_hash FROM users")[1][0][0]
    assert hash_.startswith("$argon2") and PASSWORD not in hash_
    assert runner.invoke(cli_app, ["users", "passwd", "lead", "--db", db, "--password", "another long one"]
                         ).exit_code == 0
    assert auth.login(open_store(sample_db), "lead", PASSWORD) is None
    assert auth.login(open_store(sample_db), "lead", "another long one") is not None
    assert runner.invoke(cli_app, ["users", "remove", "lead", "--db", db]).exit_code == 0
    assert auth.count_users(open_store(sample_db)) == 0


def test_the_page_export_is_scoped_redacted_and_audited(sample_db):
    """The coaching export from the page: a team lead gets only their teams (another team by address is 403),
    a trainer gets every team with personal data redacted and clips beeped; each export is in the audit table."""
    lead = signed_in(sample_db, "north-lead", "team_lead", ("team-north",))
    assert lead.get("/export", params={"team": "team-south"}).status_code == 403
    own = lead.get("/export", params={"limit": "100", "good": "1"})
    assert own.status_code == 200 and own.headers["content-disposition"].startswith("attachment")
    ids = set(re.findall(r"(call-\d{4}|chat-\d{4}|transcript-\d{4})", own.text))
    assert ids and ids <= NORTH, ids
    assert "Хорошие примеры" in own.text and "Приветствие" in own.text
    trainer = signed_in(sample_db, "coach", "trainer")
    page = trainer.get("/export", params={"rule": "escalation_complaint"})
    assert page.status_code == 200
    assert "call-0003" in page.text and "[ИМЯ]" in page.text and "data:audio/ogg;base64," in page.text
    assert "Клиент хочет пожаловаться" in page.text and "<script" not in page.text
    admin = signed_in(sample_db, "root", "admin")
    assert admin.get("/export").status_code == 403
    anonymous = TestClient(create_app(open_store(sample_db), REPO), base_url=LOCAL).get("/export",
                                                                                       follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    for bogus in ({"limit": "0"}, {"limit": "1000"}, {"verdict": "maybe"}, {"since": "../../etc/passwd"}):
        assert trainer.get("/export", params=bogus).status_code == 400, bogus
    exports = [r for r in audit_actions(sample_db) if r[1] == "export"]
    assert [r[0] for r in exports] == ["north-lead", "coach"]


def test_cli_exports_and_verdicts_are_audited(sample_db, tmp_path):
    from qa.store import queries

    runner = CliRunner()
    done = runner.invoke(cli_app, ["export", "--db", str(sample_db), "--out", str(tmp_path), "--no-clips"])
    assert done.exit_code == 0, done.output
    [finding] = queries.findings(open_store(sample_db), queries.Filters(flagged=None, rule="escalation_complaint",
                                                            conversation_id="call-0003"))
    reviewed = runner.invoke(cli_app, ["review", "call-0003", "confirmed", "--by", "Анна", "--db", str(sample_db),
                                       "--finding", finding["finding_key"]])
    assert reviewed.exit_code == 0, reviewed.output
    rows = open_store(sample_db).query("SELECT username, action, conversation_id, detail, client FROM audit "
                            "ORDER BY logged_at")[1]
    export_row = next(r for r in rows if r[1] == "export")
    assert export_row[4] == "cli" and "(shell)" in export_row[0] and "examples" in export_row[3]
    assert ("Анна", "verdict", "call-0003") in [r[:3] for r in rows]
