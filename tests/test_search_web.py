"""The search page, «Сохранить как правило» and the trends page through FastAPI's TestClient on a store written by
the real write path: results with marks and masked personal data, team scoping, errors in Russian, injection through
every field, supervisor-only audited saves that never overwrite without confirmation, charts and CSV."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from search_data import chat, conversations

import qa
from qa.review import auth
from qa.review.web.app import create_app
from qa.rules.rule_tests import run_rule_tests
from qa.store import open_store

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"
PRIVATE = ("Меня зовут Иван Петров, мой телефон 8 900 123 45 67, верните деньги за роутер.")


@pytest.fixture(scope="module")
def template(tmp_path_factory, scorer) -> Path:
    db = tmp_path_factory.mktemp("search-web") / "qa.duckdb"
    private = chat("c8", "team-a", "op-1", 26, [("client", PRIVATE)])
    short = chat("c9", "team-b", "op-3", 3, [("client", "Верните деньги.")])  # no word c1:0 lacks
    open_store(db).write_results("run-1", [scorer.score(c) for c in [*conversations(), private, short]])
    for name, role, teams, pii in (("Анна", "supervisor", (), True), ("Борис", "supervisor", (), False),
                                   ("Лида", "team_lead", ("team-a",), False), ("Тина", "trainer", (), False)):
        auth.add_user(open_store(db), name, PASSWORD, role, teams, pii)
    return db


@pytest.fixture
def db(template, tmp_path) -> Path:
    path = tmp_path / "qa.duckdb"
    shutil.copy(template, path)
    return path


@pytest.fixture
def rules(tmp_path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(REPO / "scripts_rules", folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def signed_in(db: Path, username: str, rules_dir: Path | None = None) -> TestClient:
    from qa.text.redaction import get_redactor

    client = TestClient(create_app(open_store(db), REPO, rules_dir=rules_dir, redactor=get_redactor()),
                        base_url="http://127.0.0.1")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token,
                                           "next": "/"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    client.headers["X-CSRF-Token"] = re.search(r'<meta name="csrf-token" content="([^"]+)"',
                                               client.get("/search").text).group(1)
    return client


def hits(page: str) -> list[str]:
    return re.findall(r'<li class="hit [^"]*" data-key="([^"]+)"', page)


def alert(page: str) -> str:
    found = re.search(r'role="alert">(.*?)</div>', page, re.S)
    return found.group(1).strip() if found else ""


def test_search_page_shows_marked_sentences_that_open_at_the_moment(db):
    client = signed_in(db, "Анна")
    page = client.get("/search", params={"q": "вернуть деньги", "team": "team-a"})
    assert page.status_code == 200
    assert hits(page.text) == ["c6:0", "c8:0", "c5:0", "c2:1", "c1:0", "c1:1"]
    assert 'data-total="6"' in page.text and "фраз в 5 разговорах" in page.text
    assert '<mark class="found">вернули</mark> <mark class="found">денег</mark>' in page.text
    assert 'href="/conversations/c2?t=31.25#turn-1"' in page.text  # the word's second, the turn's anchor
    assert page.text.count('class="mark-hit"') == 6 and 'id="save-rule"' in page.text
    # The conversation page it opens marks that turn and sets the player there (app.js reads ?t= and the anchor).
    assert 'id="turn-1"' in client.get("/conversations/c2", params={"t": "31.25"}).text
    paged = client.get("/search", params={"q": "вернуть деньги", "team": "team-a", "size": "10", "page": "2"})
    assert hits(paged.text) == [] and 'data-total="6"' in paged.text


def test_personal_data_is_masked_and_shown_in_clear_only_with_the_right_audited(db):
    anna = signed_in(db, "Анна")
    page = anna.get("/search", params={"q": "роутер"}).text
    assert hits(page) == ["c8:0"]
    assert "[ИМЯ]" in page and "[ТЕЛЕФОН]" in page and "Петров" not in page and "123 45" not in page
    assert '<mark class="found">роутер</mark>' in page and "show-pii" in page
    clear = anna.get("/search", params={"q": "роутер", "pii": "1"}).text
    assert "Иван Петров" in clear and "8 900 123 45 67" in clear
    _, rows = open_store(db).query("SELECT username, action, detail FROM audit WHERE action = 'pii_shown'")
    assert rows == [("Анна", "pii_shown", "search «роутер»")]
    boris = signed_in(db, "Борис")
    assert "show-pii" not in boris.get("/search", params={"q": "роутер"}).text
    assert boris.get("/search", params={"q": "роутер", "pii": "1"}).status_code == 403
    refused = boris.get("/search", params={"q": "Иван Петров"})
    assert refused.status_code == 400 and "Искать по персональным данным" in alert(refused.text)
    assert "[ИМЯ]" in alert(refused.text)
    assert boris.get("/search", params={"q": "8 900 123 45 67"}).status_code == 400
    assert anna.get("/search", params={"q": "Петров"}).status_code == 200  # a supervisor allowed to see them


def test_bad_queries_get_a_russian_error_on_the_page(db):
    lida = signed_in(db, "Лида")
    for query, message in (("", "Пустой запрос"), ("и не в", "только служебные слова"),
                           ('"вернуть деньги', "Незакрытая кавычка"),
                           ("д" * 10_000, "Запрос слишком длинный: 10 000 символов")):
        page = lida.get("/search", params={"q": query})
        assert page.status_code == 400 and message in alert(page.text), query[:20]
        assert 'name="q"' in page.text  # the form stays, to correct the query


def test_team_leads_search_their_team_and_trainers_cannot_save(db, rules):
    lida = signed_in(db, "Лида", rules)
    assert set(hits(lida.get("/search", params={"q": "деньги"}).text)) <= {"c1:0", "c1:1", "c2:1", "c5:0", "c6:0",
                                                                           "c8:0"}
    assert lida.get("/search", params={"q": "деньги", "team": "team-b"}).status_code == 403
    assert 'id="save-rule"' not in lida.get("/search", params={"q": "деньги"}).text
    body = {"q": "вернуть деньги", "rule_id": "refund_lead", "title": "Возврат", "right": ["c1:0"]}
    assert lida.post("/api/search/rule", json=body).status_code == 403
    tina = signed_in(db, "Тина", rules)
    assert "c3:0" in hits(tina.get("/search", params={"q": "деньги"}).text)  # trainers see every team
    assert tina.post("/api/search/rule", json=body).status_code == 403
    assert not (rules / "refund_lead.yml").exists()


def test_a_supervisor_saves_a_search_as_a_tested_audited_rule(db, rules):
    anna = signed_in(db, "Анна", rules)
    body = {"q": "вернуть деньги", "rule_id": "refund_request", "title": "Клиент просит вернуть деньги",
            "speaker": "client", "category": "escalation", "severity": "high",
            "right": ["c1:0", "c3:0", "c2:1"], "wrong": ["c5:0"]}
    forged = anna.post("/api/search/rule", json=body, headers={"X-CSRF-Token": "forged"})
    assert forged.status_code == 403 and not (rules / "refund_request.yml").exists()
    saved = anna.post("/api/search/rule", json=body)
    assert saved.status_code == 201, saved.text
    answer = saved.json()
    assert (answer["hits"], answer["oks"]) == (3, 1)
    text = (rules / "refund_request.yml").read_text(encoding="utf-8")
    assert "speaker: client" in text and "- вернуть деньги" in text and "status: experimental" in text
    tests = (rules / "refund_request.test.txt").read_text(encoding="utf-8")
    assert "# hit\n0.0-1.2 client: Верните деньги, пожалуйста." in tests
    assert "# ok\n0.0-2.0 client: Мне уже вернули деньги, спасибо." in tests
    [result] = [r for r in run_rule_tests(rules) if r.rule_id == "refund_request"]
    assert result.ok and all(r.ok for r in run_rule_tests(rules))  # `qa check-rules` passes on the folder
    _, audit = open_store(db).query("SELECT username, action, detail FROM audit WHERE action = 'rule_saved'")
    assert audit[0][:2] == ("Анна", "rule_saved") and "refund_request" in audit[0][2] and "3 right" in audit[0][2]
    # Saving again asks for confirmation; with it, the rule is replaced.
    again = anna.post("/api/search/rule", json={**body, "title": "Возврат денег"})
    assert again.status_code == 409 and again.json()["exists"] is True
    assert "Клиент просит вернуть деньги" in (rules / "refund_request.yml").read_text(encoding="utf-8")
    replaced = anna.post("/api/search/rule", json={**body, "title": "Возврат денег", "overwrite": True})
    assert replaced.status_code == 201 and "title: Возврат денег" in (rules / "refund_request.yml").read_text(
        encoding="utf-8")
    # Marks that the rule cannot tell apart, bad ids, no right mark: refused in Russian, nothing written.
    for bad, message in (({"right": ["c1:0"], "wrong": ["c9:0"]}, "не отличает"),
                         ({"right": ["c1:1"]}, "не находит примеры, отмеченные верными"),
                         ({"rule_id": "Refund!"}, "Идентификатор правила"),
                         ({"right": []}, "хотя бы один"),
                         ({"right": ["c1:99"]}, "Не найдены реплики")):
        refused = anna.post("/api/search/rule", json={**body, "rule_id": "refund_bad", **bad})
        assert refused.status_code == 400 and message in refused.json()["detail"], refused.text
    assert not list(rules.glob("refund_bad*")) and not list(rules.glob("Refund*"))


def test_the_rules_shipped_in_the_package_are_never_written(db):
    packaged = Path(qa.__file__).resolve().parent / "default_rules"
    anna = signed_in(db, "Анна", packaged)
    response = anna.post("/api/search/rule", json={"q": "деньги", "rule_id": "x_rule", "title": "x",
                                                  "right": ["c1:0"]})
    assert response.status_code == 409 and "qa serve --rules" in response.json()["detail"]


INJECTIONS = ["x' OR 1=1 --", "'); DROP TABLE conversations; --", "деньги\" UNION SELECT password_hash FROM users"]


def test_injection_through_every_search_field_is_harmless(db):
    anna = signed_in(db, "Анна")
    for payload in INJECTIONS:
        for field in ("q", "team", "operator", "rule", "speaker", "channel", "since", "until", "rule_hit", "fuzzy",
                      "page", "size"):
            params = {"q": "деньги", field: payload}
            response = anna.get("/search", params=params)
            assert response.status_code in (200, 400), (field, response.status_code)
            assert "$argon2" not in response.text
            if response.status_code == 200 and field != "q":
                assert hits(response.text) == [], field
    assert open_store(db).query("SELECT count(*) FROM conversations")[1] == [(8,)]


def test_trends_page_draws_weeks_operators_and_rule_moves_with_csv(db):
    anna = signed_in(db, "Анна")
    page = anna.get("/trends", params={"team": "team-a"})
    assert page.status_code == 200
    assert "<polyline class=\"line\"" in page.text and page.text.count('class="spark"') >= 2
    assert re.findall(r'<tr data-operator="([^"]+)"', page.text) == ["op-1", "op-2", "op-4"]
    weeks = list(csv.DictReader(io.StringIO(anna.get("/trends.csv", params={"team": "team-a"}).text)))
    assert sum(int(w["conversations"]) for w in weeks) == 5 and set(weeks[0]) >= {"week", "avg_score",
                                                                                  "flagged_pct"}
    moves = anna.get("/trends.csv", params={"what": "rules", "team": "team-a"})
    assert moves.status_code == 200 and moves.text.startswith("rule_id,category,previous_week,this_week")
    lida = signed_in(db, "Лида")
    assert lida.get("/trends", params={"team": "team-b"}).status_code == 403
    assert "team-b" not in lida.get("/trends.csv", params={"what": "operators"}).text
    assert lida.get("/trends.csv", params={"what": "everything"}).status_code == 400
    assert signed_in(db, "Тина").get("/trends").status_code == 403


def menu(page: str, name: str) -> list[str]:
    found = re.search(rf'<select name="{name}">(.*?)</select>', page, re.S)
    return [v for v in re.findall(r'<option value="([^"]*)"', found.group(1)) if v] if found else []


def test_filter_menus_are_built_once_and_still_scoped_per_user(db, monkeypatch):
    from qa.store import queries

    built: list[str] = []
    for name in ("filter_options", "stats"):
        real = getattr(queries, name)
        monkeypatch.setattr(queries, name, lambda *a, real=real, name=name, **k: built.append(name) or real(*a, **k))
    anna = signed_in(db, "Анна")  # its own application, with its own menus; signing in views /search once
    first, second = (anna.get("/search", params={"q": "деньги"}).text for _ in range(2))
    assert built == ["filter_options"]  # the views after the first scan nothing for their menus
    assert menu(first, "team") == menu(second, "team") == ["team-a", "team-b"]
    assert "op-3" in menu(second, "operator")
    built.clear()
    lida = signed_in(db, "Лида")
    pages = [lida.get("/search", params={"q": "деньги"}).text, lida.get("/").text]
    assert built == ["filter_options", "stats"]  # once per application and team
    for page in pages:  # never another team, nor its operators, though the whole lists are kept
        assert menu(page, "team") == ["team-a"]
        assert menu(page, "operator") == ["op-1", "op-2", "op-4"]


def test_a_team_lead_of_two_teams_is_offered_the_operators_of_both(db):
    auth.add_user(open_store(db), "Марк", PASSWORD, "team_lead", ("team-a", "team-b"), False)
    page = signed_in(db, "Марк").get("/search", params={"q": "деньги"}).text
    assert menu(page, "team") == ["team-a", "team-b"]
    assert {"op-1", "op-3"} <= set(menu(page, "operator"))  # team-a's and team-b's (only the first team's before)


def test_kept_menus_are_built_again_once_old_or_cleared():
    from qa.review.web.site import MenuCache

    now, builds = [0.0], iter(range(100))
    menus = MenuCache(ttl_s=60, clock=lambda: now[0])
    assert [menus.get(("all",), lambda: next(builds)) for _ in range(2)] == [0, 0]
    assert menus.get(("operators", "team-a"), lambda: next(builds)) == 1  # each key its own
    now[0] = 59.9
    assert menus.get(("all",), lambda: next(builds)) == 0
    now[0] = 60.0
    assert menus.get(("all",), lambda: next(builds)) == 2  # a night's write shows within the TTL
    menus.clear()
    assert menus.get(("all",), lambda: next(builds)) == 3
