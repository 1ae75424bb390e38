"""The review web page through FastAPI's TestClient, on a private copy of the samples' database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa.review import auth
from qa.review.web.app import create_app
from qa.review.web.transcript import dialogue, find_span
from qa.store import open_store, queries
from qa.store.current import refresh_current

REPO = Path(__file__).resolve().parents[1]

FLAGGED = {"call-0002", "call-0003", "chat-0002", "transcript-0001"}
COMPLAINT_KEY = "escalation_complaint@1@8.6"


PASSWORD = "correct horse battery"
LOCAL = "http://127.0.0.1"  # the page answers only the names it is served on (DNS rebinding): not «testserver»


def signed_in(db, username: str, role: str = "supervisor", teams: tuple[str, ...] = (), pii: bool = False,
              **app_options) -> TestClient:
    """A TestClient of the real app, signed in through the login form; sends the page's CSRF token."""
    if auth.get_user(open_store(db), username) is None:
        auth.add_user(open_store(db), username, PASSWORD, role, teams, pii)
    client = TestClient(create_app(open_store(db), REPO, **app_options), base_url=LOCAL)
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token,
                                           "next": "/"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/").text
                     if role != "admin" else client.get("/users").text).group(1)
    client.headers["X-CSRF-Token"] = csrf
    return client


@pytest.fixture
def client(sample_db) -> TestClient:
    return signed_in(sample_db, "Анна Петрова", pii=True)


def listed(client: TestClient, path: str = "/", **params) -> list[str]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return re.findall(r'<tr data-id="([^"]+)"', response.text)


def complaint_finding(db) -> dict:
    return next(f for f in queries.conversation(open_store(db), "call-0003")["findings"]
                if f["rule_id"] == "escalation_complaint")


def test_list_shows_the_flagged_samples_only(client):
    ids = listed(client)
    assert set(ids) == FLAGGED
    assert "call-0001" not in ids
    page = client.get("/").text
    assert 'class="badge escalation"' in page
    assert "escalation_complaint" in page


def test_show_all_switch_lists_unflagged_conversations_too(client):
    assert {"call-0001", "chat-0001"} <= set(listed(client, all="1"))


@pytest.mark.parametrize(("params", "expected"), [
    ({"team": "team-north"}, set()),
    ({"team": "team-north", "all": "1"}, {"call-0001", "call-0004", "chat-0001"}),
    ({"operator": "op-oleg"}, {"transcript-0001"}),
    ({"rule": "escalation_complaint"}, {"call-0003", "chat-0002"}),
    ({"category": "silence"}, {"call-0002"}),
    ({"channel": "chat"}, {"chat-0002"}),
    ({"channel": "chat", "all": "1"}, {"chat-0001", "chat-0002"}),
    ({"min_score": "50"}, {"call-0003", "transcript-0001"}),
    ({"max_score": "10"}, {"call-0002", "chat-0002"}),
    ({"since": "2026-11-27", "until": "2026-11-27"}, {"call-0002", "call-0003", "chat-0002"}),
    ({"since": "2030-01-01"}, set()),
    ({"team": "team-south", "operator": "op-igor", "channel": "call"}, {"call-0002", "call-0003"}),
])
def test_each_filter_narrows_the_list(client, params, expected):
    assert set(listed(client, **params)) == expected


def test_empty_filter_fields_are_ignored(client):
    empty = {k: "" for k in ("since", "until", "team", "operator", "rule", "category", "channel", "min_score",
                             "max_score")}
    assert set(listed(client, **empty)) == FLAGGED


def test_sort_order_changes(client):
    ascending = listed(client, sort="id", order="asc")
    descending = listed(client, sort="id", order="desc")
    assert ascending == sorted(FLAGGED)
    assert descending == sorted(FLAGGED, reverse=True)
    by_score = listed(client, sort="score", order="desc")
    assert by_score[0] == "call-0003"  # 83.3, the best flagged score


def test_pagination(client):
    first = listed(client, sort="id", size="10", all="1")
    assert len(first) == 7
    page = client.get("/", params={"sort": "id", "size": "10", "all": "1", "page": "2"})
    assert page.status_code == 200
    assert re.findall(r'<tr data-id="([^"]+)"', page.text) == []
    api = client.get("/api/conversations", params={"sort": "id", "size": "10", "page": "1"}).json()
    assert api["total"] == 4
    assert [c["conversation_id"] for c in api["conversations"]] == sorted(FLAGGED)


def test_page_size_splits_the_list(client, sample_db):
    # 10 is the smallest page size: add enough conversations through the store to need two pages.
    with open_store(sample_db).connect() as con:
        for i in range(8):
            for table in ("conversations", "scores"):
                con.execute(f"INSERT INTO {table} SELECT * REPLACE ('copy-' || ? AS conversation_id) FROM {table} "
                            "WHERE conversation_id = 'call-0002'", [str(i)])
        refresh_current(con)  # hand edits of the base tables: rebuild the current results
    first = listed(client, sort="id", size="10")
    second = listed(client, sort="id", size="10", page="2")
    assert len(first) == 10 and len(second) == 2
    assert not set(first) & set(second)
    assert 'rel="next"' in client.get("/", params={"size": "10"}).text


@pytest.mark.parametrize("params", [
    {"sort": "total; DROP TABLE scores"}, {"order": "sideways"}, {"size": "7"}, {"size": "-1"}, {"page": "0"},
    {"page": "x"}, {"min_score": "abc"}, {"max_score": "101"}, {"since": "2026-13-01"}, {"until": "yesterday"},
    {"channel": "fax"}, {"all": "yes"},
])
def test_bogus_parameters_are_refused_not_crashed(client, params):
    for path in ("/", "/api/conversations"):
        response = client.get(path, params=params)
        assert response.status_code in (400, 422), (path, params, response.status_code)
    assert client.get("/api/conversations", params=params).json()["detail"]


@pytest.mark.parametrize("evil", ["x' OR '1'='1", "'; DROP TABLE reviews; --", "team-south' --", "%' OR 1=1 --"])
def test_sql_injection_in_filters_finds_nothing(client, sample_db, evil):
    for key in ("team", "operator", "rule", "category"):
        assert listed(client, **{key: evil, "all": "1"}) == []
    assert open_store(sample_db).query("SELECT count(*) FROM reviews")[1][0][0] == 0
    assert open_store(sample_db).query("SELECT count(*) FROM conversations")[1][0][0] == 7


def test_conversation_page_shows_turns_and_the_highlighted_complaint(client, sample_db):
    page = client.get("/conversations/call-0003").text
    conversation = queries.conversation(open_store(sample_db), "call-0003")
    assert page.count('class="turn speaker-') == len(conversation["utterances"])
    assert "speaker-client" in page and "speaker-operator" in page
    mark = re.search(r'<mark class="hl sev-medium" data-finding="escalation_complaint@[^"]+" data-seek="([\d.]+)"'
                     r'[^>]*>([^<]+)</mark>', page)
    assert mark, "complaint not highlighted"
    assert float(mark.group(1)) == pytest.approx(complaint_finding(sample_db)["start_s"])
    assert "жалоб" in mark.group(2).lower()
    assert '<audio id="player"' in page and 'src="/audio/call-0003"' in page
    assert "Приветствие" in page  # the script checklist
    assert "Доля речи оператора" in page and "<th>operator_talk_share" not in page  # metrics, in Russian


def test_chat_page_highlights_the_matched_text(client):
    page = client.get("/conversations/chat-0002").text
    assert re.search(r'<mark class="hl sev-medium" data-finding="stop_word_dont_know@[^"]+"[^>]*>не знаю</mark>', page)
    assert "<audio" not in page


@pytest.mark.parametrize(("text", "matched", "expected"), [
    ("Я не знаю, почему.", "не знаю", "не знаю"),
    ("Хочу расторгнуть, договор, верните", "расторгнуть договор", "расторгнуть, договор"),
    ("ЕЩЁ раз позовите", "еще раз", "ЕЩЁ раз"),
    ("незнаю", "не знаю", None),
    ("Судно пришло", "суд", None),
])
def test_find_span(text, matched, expected):
    span = find_span(text, matched)
    assert (text[span[0]:span[1]] if span else None) == expected


def test_dialogue_uses_word_timings_for_calls():
    utterances = [{"idx": 0, "speaker": "client", "start_s": 1.0, "end_s": 3.0, "text": "Хочу жалобу подать",
                   "words": [["Хочу", 1.0, 1.5, 0.9], ["жалобу", 1.5, 2.2, 0.9], ["подать", 2.2, 3.0, 0.9]]}]
    findings = [{"finding_key": "k", "utterance_idx": 0, "start_s": 1.5, "end_s": 2.2, "severity": "medium",
                 "details": {"matched": "жалобу"}}]
    [turn] = dialogue(utterances, findings)
    assert [(p.text, p.finding_keys) for p in turn.pieces] == [("Хочу ", ()), ("жалобу", ("k",)), (" подать", ())]


def test_unknown_conversation_is_404(client):
    response = client.get("/conversations/call-9999")
    assert response.status_code == 404
    assert "call-9999" in response.text
    assert client.get("/api/conversations/call-9999").status_code == 404
    assert client.get("/audio/call-9999").status_code == 404


def test_audio_is_served_with_range_support(client):
    whole = client.get("/audio/call-0003", params={"pii": "1"})  # as recorded: this supervisor may show PII
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "audio/flac"
    assert whole.content[:4] == b"fLaC"
    part = client.get("/audio/call-0003", params={"pii": "1"}, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    assert part.content == whole.content[100:200]


def test_audio_of_a_chat_or_a_missing_file_is_a_clear_404(client, sample_db, tmp_path):
    chat = client.get("/audio/chat-0001")
    assert chat.status_code == 404 and "нет записи" in chat.json()["detail"]
    with open_store(sample_db).connect() as con:
        con.execute("UPDATE conversations SET source_path = ? WHERE conversation_id = 'call-0001'",
                    [str(tmp_path / "gone.flac")])
    gone = client.get("/audio/call-0001")
    assert gone.status_code == 404 and "gone.flac" in gone.json()["detail"]


def test_headerless_alaw_is_decoded_and_served_as_wav(client, sample_db, tmp_path):
    alaw = tmp_path / "call.al"
    alaw.write_bytes(bytes(range(256)) * 64)  # 2 s of 8 kHz A-law
    (tmp_path / "call.json").write_text('{"raw_format": {"codec": "alaw", "sample_rate": 8000}}', encoding="utf-8")
    with open_store(sample_db).connect() as con:
        con.execute("UPDATE conversations SET source_path = ? WHERE conversation_id = 'call-0001'", [str(alaw)])
    whole = client.get("/audio/call-0001")
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "audio/wav"
    assert whole.content[:4] == b"RIFF" and whole.content[8:12] == b"WAVE"
    part = client.get("/audio/call-0001", headers={"Range": "bytes=0-43"})
    assert part.status_code == 206 and part.content == whole.content[:44]
    assert client.get("/audio/call-0001", headers={"Range": "bytes=999999999-"}).status_code == 416


def test_verdict_is_stored_and_changes_rule_precision(client, sample_db):
    cols, rows = queries.rule_precision(open_store(sample_db))
    before = {r[0]: dict(zip(cols, r, strict=True)) for r in rows}
    assert before["escalation_complaint"]["false_positive"] == 0
    finding = complaint_finding(sample_db)
    response = client.post("/api/reviews", json={
        "conversation_id": "call-0003", "finding_key": finding["finding_key"], "verdict": "false_positive",
        "comment": "клиент шутил", "reviewer": "Анна Петрова"})
    assert response.status_code == 201, response.text
    assert response.json()["verdict"] == "false_positive"
    _, rows = open_store(sample_db).query(
        "SELECT conversation_id, finding_key, rule_id, verdict, comment, reviewer FROM reviews")
    assert rows == [("call-0003", finding["finding_key"], "escalation_complaint", "false_positive", "клиент шутил",
                     "Анна Петрова")]
    page = client.get("/rules").text
    row = re.search(r'<tr data-rule="escalation_complaint">(.*?)</tr>', page, re.S).group(1)
    assert re.search(r'data-col="false_positive">1<', row)
    assert "1.00" in row
    assert 'class="verdict v-false_positive"' in client.get("/conversations/call-0003").text


def test_verdict_on_the_whole_conversation(client, sample_db):
    response = client.post("/api/reviews", json={"conversation_id": "chat-0002", "finding_key": None,
                                                  "verdict": "confirmed", "comment": None, "reviewer": "Олег"})
    assert response.status_code == 201
    assert open_store(sample_db).query("SELECT finding_key, verdict FROM reviews")[1] == [(None, "confirmed")]
    assert "Анна Петрова" in client.get("/conversations/chat-0002").text


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"conversation_id": "call-0003", "finding_key": None, "verdict": "maybe", "reviewer": "Анна"}, 400,
     "verdict: одно из"),
    ({"conversation_id": "call-0003", "finding_key": "nope@1@0.0", "verdict": "confirmed", "reviewer": "Анна"}, 404,
     "находка 'nope@1@0.0' не найден"),
    ({"conversation_id": "call-9999", "finding_key": None, "verdict": "confirmed", "reviewer": "Анна"}, 404,
     "разговор не найден"),
    ({"conversation_id": "call-0003", "reviewer": "Анна"}, 400, "verdict"),
    ({"conversation_id": 3, "verdict": "confirmed", "reviewer": "Анна"}, 400, "conversation_id"),
])
def test_bad_verdicts_are_4xx_json_with_a_message(client, sample_db, body, status, words):
    response = client.post("/api/reviews", json=body)
    assert response.status_code == status
    assert words in response.json()["detail"]
    assert open_store(sample_db).query("SELECT count(*) FROM reviews")[1][0][0] == 0


def test_non_json_and_cross_site_posts_are_refused(client, sample_db):
    body = '{"conversation_id": "call-0003", "verdict": "confirmed", "reviewer": "Анна"}'
    form = client.post("/api/reviews", content="conversation_id=call-0003&verdict=confirmed&reviewer=x",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    plain = client.post("/api/reviews", content=body, headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    cross = client.post("/api/reviews", content=body,
                        headers={"Content-Type": "application/json", "Origin": "https://evil.example"})
    assert cross.status_code == 403
    fetch_site = client.post("/api/reviews", content=body,
                             headers={"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"})
    assert fetch_site.status_code == 403
    assert open_store(sample_db).query("SELECT count(*) FROM reviews")[1][0][0] == 0
    same = client.post("/api/reviews", content=body,
                       headers={"Content-Type": "application/json", "Origin": LOCAL})
    assert same.status_code == 201


def test_quotes_are_html_escaped(client, sample_db):
    evil = "<script>alert('x')</script>"
    with open_store(sample_db).connect() as con:
        con.execute("UPDATE findings SET quote = ? WHERE conversation_id = 'call-0003'", [evil])
        con.execute("UPDATE utterances SET text = ?, words = NULL WHERE conversation_id = 'call-0003' AND idx = 0",
                    [evil])
        con.execute("UPDATE conversations SET team = ? WHERE conversation_id = 'call-0003'", [evil])
        refresh_current(con)
    for path in ("/", "/conversations/call-0003", "/dashboard"):
        page = client.get(path, params={"all": "1"} if path == "/" else None).text
        assert evil not in page, path
        assert "&lt;script&gt;" in page, path


def test_dashboard_has_charts_and_an_operator_table(client):
    page = client.get("/dashboard").text
    assert page.count("<svg") == 3
    assert "Клиент хочет пожаловаться" in page  # top rules, by title
    for operator in ("op-anna", "op-igor", "op-oleg"):
        assert operator in page
    narrowed = client.get("/dashboard", params={"team": "team-north"}).text
    assert "op-igor" not in narrowed.split("<h2>Операторы</h2>")[1]


def test_rule_precision_lists_noisiest_first(client, sample_db):
    finding = complaint_finding(sample_db)
    client.post("/api/reviews", json={"conversation_id": "call-0003", "finding_key": finding["finding_key"],
                                      "verdict": "false_positive", "reviewer": "Анна"})
    rules = re.findall(r'<tr data-rule="([^"]+)">', client.get("/rules").text)
    assert rules[0] == "escalation_complaint"
    assert set(rules) == {r[0] for r in queries.rule_precision(open_store(sample_db))[1]}


def test_api_conversation_detail_is_json(client):
    detail = client.get("/api/conversations/call-0003").json()
    assert detail["conversation_id"] == "call-0003"
    assert any(f["rule_id"] == "escalation_complaint" for f in detail["findings"])
    assert isinstance(detail["started_at"], str)


def test_static_files_are_served(client):
    assert client.get("/static/app.js").status_code == 200
    assert "sticky" in client.get("/static/style.css").text


def test_default_order_is_escalations_first_then_worst_score(client):
    assert listed(client) == ["chat-0002", "call-0003", "call-0002", "transcript-0001"]


ENGLISH = re.compile(r"missed step|score \d|category:|auto-fail|optional:|not said|not applicable|brand heard|"
                     r"speaker unknown|\bNone\b|\[\d+(\.\d+)? s\]|\b(info|low|medium|high|critical)\b|"
                     r"\b(operator|client|confirmed|false_positive|disputed)\b")


def visible_text(html: str) -> str:
    """What a reader sees: tags, attributes, scripts and templates stripped."""
    html = re.sub(r"<(script|style|template)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_every_page_speaks_russian_with_rule_titles_and_no_none(client, sample_db):
    rule_ids = {r[0] for r in queries.rule_precision(open_store(sample_db))[1]}
    metric_keys = {k for cid in ("call-0002", "call-0003")
                   for k in queries.conversation(open_store(sample_db), cid)["metrics"]}
    pages = ["/", "/?all=1", "/dashboard", "/rules", "/failures"] + [
        f"/conversations/{cid}" for cid in ("call-0001", "call-0002", "call-0003", "call-0004", "chat-0001",
                                            "chat-0002", "transcript-0001")]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        text = visible_text(response.text)
        assert not ENGLISH.search(text), (path, ENGLISH.search(text).group(0))
        shown_ids = {r for r in rule_ids if re.search(rf"\b{r}\b", text)}
        assert not shown_ids, (path, shown_ids)
        assert not {k for k in metric_keys if re.search(rf"\b{k}\b", text)}, path
    stop_words = visible_text(client.get("/conversations/call-0002").text)
    assert "Пропущен шаг скрипта: Попрощался" in stop_words  # a flag reason, with the step's title
    assert "Оператор не сказал этого в первые 15 с" in stop_words  # script evidence
    assert "Клиент хочет пожаловаться" in visible_text(client.get("/conversations/call-0003").text)
    assert "[12.0 с]" in stop_words or "[11.9 с]" in stop_words  # the dead air's quote


def test_dates_on_the_page_mean_what_they_mean_in_the_cli(client, sample_db):
    """One day, one time zone: the page's since/until and the CLI's go through queries.day_bound."""
    from typer.testing import CliRunner

    from qa.cli import app

    _, rows = open_store(sample_db).query(
        "SELECT conversation_id, started_at FROM conversations WHERE started_at IS NOT NULL")
    assert rows
    for day in ("2026-11-26", "2026-11-27", "2026-11-28"):
        page = set(listed(client, since=day, until=day, all="1"))
        cli = CliRunner().invoke(app, ["stats", "--db", str(sample_db), "--by", "operator", "--since", day,
                                       "--until", day, "--format", "json"])
        from_cli = queries.conversations(open_store(sample_db),
                                         queries.Filters(flagged=None, since=queries.day_bound(day),
                                                         until=queries.day_bound(day, end=True)),
                                         limit=100)
        assert page == {r["conversation_id"] for r in from_cli.dicts()}, day
        assert cli.exit_code == 0 and sum(r["conversations"] for r in __import__("json").loads(cli.stdout or "[]")) \
            == len(page), day
    # 27.11 23:30 Moscow is 20:30 UTC: the Moscow day of 27.11 holds it, the UTC reading would too, but 28.11
    # 01:30 Moscow (27.11 22:30 UTC) belongs to the 28th in Moscow only.
    with open_store(sample_db).connect() as con:
        con.execute("UPDATE conversations SET started_at = TIMESTAMPTZ '2026-11-28 01:30:00+03:00' "
                    "WHERE conversation_id = 'call-0001'")
        refresh_current(con)  # a hand edit of the base tables: rebuild the current results
    assert "call-0001" in listed(client, since="2026-11-28", until="2026-11-28", all="1")
    assert "call-0001" not in listed(client, since="2026-11-27", until="2026-11-27", all="1")
    utc = signed_in(sample_db, "utc-reader", timezone="UTC")
    assert "call-0001" in listed(utc, since="2026-11-27", until="2026-11-27", all="1")
    assert "28.11.2026 01:30" in client.get("/conversations/call-0001").text
    assert "27.11.2026 22:30" in utc.get("/conversations/call-0001").text
