"""The review page in a real headless Chromium against the real `qa serve` process (Debian's /usr/bin/chromium;
nothing is downloaded). Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from qa.review import auth
from qa.store import open_store, queries

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
REVIEWER, PASSWORD = "Анна Петрова", "correct horse battery"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--autoplay-policy=no-user-gesture-required"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(sample_db):
    """`qa serve` on a copy of the samples' database with one supervisor account; yields (base URL, database
    path)."""
    auth.add_user(open_store(sample_db), REVIEWER, PASSWORD, "supervisor", pii=True)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", "serve", "--db", str(sample_db), "--port", str(port),
         "--audio-root", str(REPO)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/login", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"qa serve did not start: {proc.communicate()[0]}")
            time.sleep(0.2)
        yield url, sample_db
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not installed (`make browser` installs Debian's chromium)"
        if os.environ.get("QA_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


_FRAMING: list = []


def _framing_page(target: str) -> str:
    """An attacker's page on another loopback port that frames ``target``; its URL (the server is kept in
    ``_FRAMING`` for shutting down)."""
    import functools
    import http.server
    import tempfile
    import threading

    folder = tempfile.mkdtemp(prefix="qa-framing-")
    Path(folder, "index.html").write_text(f'<!doctype html><iframe src="{target}" width="900" height="600"></iframe>',
                                          encoding="utf-8")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=folder))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _FRAMING.append(server)
    return f"http://127.0.0.1:{server.server_address[1]}/index.html"


def _sign_in(page, url: str, name: str = "", shot: bool = False) -> None:
    page.goto(url + "/login")
    page.fill('input[name="username"]', REVIEWER)
    page.fill('input[name="password"]', PASSWORD)
    if shot:
        _shot(page, "login")
    page.click('.login button[type="submit"]')
    page.wait_for_url(url + "/")


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _precision_row(page, rule: str) -> dict[str, str]:
    row = page.locator(f'tr[data-rule="{rule}"]')
    return {col: row.locator(f'td[data-col="{col}"]').inner_text().strip()
            for col in ("false_positive", "false_positive_share")}


def test_review_an_escalated_call_in_the_browser(server, browser):
    url, db = server
    call = queries.conversation(open_store(db), "call-0003")
    finding = next(f for f in call["findings"] if f["rule_id"] == "escalation_complaint")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # the pages run under a strict Content-Security-Policy: nothing of theirs may be blocked by it
    page.on("console", lambda message: errors.append(message.text) if "Content Security Policy" in message.text
            else None)

    # Without signing in, the page sends you to the login form; a wrong password is refused in Russian.
    page.goto(url + "/rules")
    assert "/login?next=%2Frules" in page.url
    page.fill('input[name="username"]', REVIEWER)
    page.fill('input[name="password"]', "wrong password")
    page.click('.login button[type="submit"]')
    assert "Неверное имя пользователя или пароль" in page.locator(".error-message").inner_text()
    _sign_in(page, url, shot=True)

    # Before: the complaint rule has no false positive.
    page.goto(url + "/rules")
    assert _precision_row(page, "escalation_complaint") == {"false_positive": "0", "false_positive_share": "—"}

    # The list: the escalated call is there, with its badge; open it.
    page.goto(url + "/")
    row = page.locator('tr[data-id="call-0003"]')
    assert row.count() == 1
    assert row.locator(".badge.escalation").count() == 1
    assert page.locator('tr[data-id="call-0001"]').count() == 0
    _shot(page, "list")
    row.locator("td.id a").click()
    page.wait_for_url(url + "/conversations/call-0003")

    # (a function, not an expression: the page's policy forbids eval, which Playwright uses for expressions)
    # The recording loads when asked for (preload none: each listening is audited), and clicking the complaint
    # plays it from there: the beeped recording, this supervisor has not asked to show personal data.
    assert page.evaluate("document.getElementById('player').readyState") == 0
    card = page.locator(f'.finding[data-key="{finding["finding_key"]}"]')
    card.locator("button.seek").click()
    page.wait_for_function("() => document.getElementById('player').readyState >= 1", timeout=15000)
    page.wait_for_function(f"() => Math.abs(document.getElementById('player').currentTime - {finding['start_s']}) < 1",
                           timeout=15000)
    duration = page.evaluate("document.getElementById('player').duration")
    assert duration == pytest.approx(call["duration_s"], abs=1.0)
    _, played = open_store(db).query("SELECT username, detail FROM audit WHERE action = 'audio_played'")
    assert [(user, detail.split(" ")[0]) for user, detail in played] == [(REVIEWER, "beeped")]
    assert page.locator(f'mark[data-finding="{finding["finding_key"]}"]').inner_text().lower().startswith("жалоб")
    _shot(page, "conversation")

    # A false-positive verdict with a comment: shown in place and stored under the signed-in name.
    assert page.locator("#reviewer").count() == 0
    card.locator("input.comment").fill("клиент не жаловался, это цитата")
    card.locator('button[data-verdict="false_positive"]').click()
    card.locator(".verdict.v-false_positive").wait_for(timeout=10000)
    assert "Анна Петрова" in card.locator(".verdict-slot").inner_text()
    assert card.locator(".review-error").is_hidden()
    _, rows = open_store(db).query("SELECT finding_key, rule_id, verdict, comment, reviewer FROM reviews")
    assert rows == [(finding["finding_key"], "escalation_complaint", "false_positive",
                     "клиент не жаловался, это цитата", "Анна Петрова")]
    _shot(page, "after-verdict")

    # A refused verdict (a forged CSRF token) shows the server's message on the page and stores nothing.
    page.evaluate("document.querySelector('meta[name=csrf-token]').content = 'forged'")
    card.locator('button[data-verdict="confirmed"]').click()
    card.locator(".review-error").wait_for(state="visible", timeout=10000)
    assert "CSRF" in card.locator(".review-error").inner_text()
    assert open_store(db).query("SELECT count(*) FROM reviews")[1][0][0] == 1

    # The verdict is there after a reload.
    page.reload()
    assert page.locator(f'.finding[data-key="{finding["finding_key"]}"] .verdict.v-false_positive').count() == 1

    # Rule precision now counts it.
    page.goto(url + "/rules")
    assert _precision_row(page, "escalation_complaint") == {"false_positive": "1", "false_positive_share": "1.00"}
    assert page.locator("tbody tr").first.get_attribute("data-rule") == "escalation_complaint"
    _shot(page, "rule-precision")

    # The dashboard draws its charts.
    page.goto(url + "/dashboard")
    for chart in ("chart-histogram", "chart-rules", "chart-trend"):
        assert page.locator(f"#{chart} svg.chart rect").count() > 0, chart
    assert page.locator("#chart-trend svg polyline.line").count() == 1
    _shot(page, "dashboard")

    # Another page on this machine (another port: the same site for cookies) cannot frame the signed-in list.
    framed = _framing_page(url + "/")
    try:
        blocked: list[str] = []
        page.on("console", lambda message: blocked.append(message.text))
        page.goto(framed)
        page.wait_for_function("() => document.querySelector('iframe') !== null")
        page.wait_for_timeout(1000)
        frame = page.frames[-1]
        assert frame is not page.main_frame and frame.locator("tr[data-id]").count() == 0
        assert any("frame-ancestors" in text for text in blocked), blocked
        errors[:] = [e for e in errors if "frame-ancestors" not in e]
    finally:
        _FRAMING.pop().shutdown()

    # Logging out ends the session.
    page.goto(url + "/")
    page.click("button.logout")
    page.wait_for_url("**/login")
    page.goto(url + "/dashboard")
    assert "/login" in page.url
    assert errors == []


def test_filters_and_sorting_in_the_browser(server, browser):
    url, _ = server
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    _sign_in(page, url)
    page.select_option('select[name="channel"]', "chat")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/?channel=chat*")
    assert page.locator("tbody tr[data-id]").evaluate_all("rows => rows.map(r => r.dataset.id)") == ["chat-0002"]
    assert "since=" not in page.url  # empty fields stay out of the address
    page.goto(url + "/?all=1")
    page.click('th a[data-sort="id"]')
    ids = page.locator("tbody tr[data-id]").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert ids == sorted(ids) and len(ids) == 7
    page.click('th a[data-sort="id"]')
    assert page.locator("tbody tr[data-id]").evaluate_all("rows => rows.map(r => r.dataset.id)") == sorted(
        ids, reverse=True)


@pytest.fixture
def search_server(sample_db, tmp_path):
    """`qa serve` with a supervisor account and a rule folder of its own (a copy of the shipped rules) to save to."""
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(REPO / "scripts_rules", rules, ignore=shutil.ignore_patterns("__pycache__"))
    auth.add_user(open_store(sample_db), REVIEWER, PASSWORD, "supervisor", pii=True)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", "serve", "--db", str(sample_db), "--port", str(port),
         "--audio-root", str(REPO), "--rules", str(rules)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/login", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"qa serve did not start: {proc.communicate()[0]}")
            time.sleep(0.2)
        yield url, rules
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_search_open_a_result_at_its_second_and_save_it_as_a_rule(search_server, browser):
    from typer.testing import CliRunner

    from qa.cli import app

    url, rules = search_server
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _sign_in(page, url)

    # A query of only stop-words is refused in Russian, the form kept.
    page.click('nav a[href="/search"]')
    page.fill('input[name="q"]', "и не в")
    page.press('input[name="q"]', "Enter")
    page.locator(".search-error").wait_for(timeout=10000)
    assert "только служебные слова" in page.locator(".search-error").inner_text()

    # Lemma search: «вернуть деньги» finds «Верните деньги» in the chat and «верните мне деньги» in the call.
    page.fill('input[name="q"]', "вернуть деньги")
    page.press('input[name="q"]', "Enter")
    page.locator("ol.hits li.hit").first.wait_for(timeout=10000)
    keys = page.locator("li.hit").evaluate_all("items => items.map(i => i.dataset.key)")
    assert set(keys) == {"chat-0002:3", "call-0003:6"}
    call = page.locator('li.hit[data-key="call-0003:6"]')
    assert [m.lower() for m in call.locator("mark.found").all_inner_texts()] == ["верните", "деньги"]
    seek = float(call.get_attribute("data-seek"))
    assert 45 < seek < 60
    _shot(page, "search")

    # The result opens the call at that second: its turn marked, the player set there.
    call.locator("a.open").click()
    page.wait_for_url("**/conversations/call-0003?t=*")
    page.wait_for_function(f"() => {{ const p = document.getElementById('player'); "  # a function: CSP allows no eval
                           f"return p.readyState >= 1 && Math.abs(p.currentTime - {seek}) < 0.5; }}", timeout=15000)
    assert "found" in page.locator("#turn-6").get_attribute("class")
    page.go_back()

    # Both hits marked right; saved as a draft rule of the client's words; `qa check-rules` accepts the folder.
    page.locator("li.hit").first.wait_for(timeout=10000)
    for key in keys:
        page.locator(f'li.hit[data-key="{key}"] .mark-hit input[value="right"]').check()
    form = page.locator("#save-rule")
    form.locator('input[name="rule_id"]').fill("refund_request")
    form.locator('input[name="title"]').fill("Клиент требует вернуть деньги")
    form.locator('select[name="speaker"]').select_option("client")
    form.locator('button[type="submit"]').click()
    page.locator(".save-result .saved").wait_for(timeout=30000)
    assert "refund_request сохранено" in page.locator(".save-result").inner_text()
    assert (rules / "refund_request.yml").is_file() and (rules / "refund_request.test.txt").is_file()
    _shot(page, "search-saved")
    result = CliRunner().invoke(app, ["check-rules", str(rules)])
    assert result.exit_code == 0 and "ok   refund_request: 2 hit, 1 ok" in result.stdout

    # Saving it again asks before overwriting; declined, the file stays as it was.
    before = (rules / "refund_request.yml").read_text(encoding="utf-8")
    form.locator('input[name="title"]').fill("Другое название")
    with page.expect_event("dialog", timeout=30000) as asked:
        form.locator('button[type="submit"]').click()
    assert "уже есть" in asked.value.message
    asked.value.dismiss()
    assert (rules / "refund_request.yml").read_text(encoding="utf-8") == before

    # The trends page draws the weekly charts.
    page.goto(url + "/trends")
    assert page.locator("#chart-weeks svg.chart").count() == 1
    _shot(page, "trends")
    assert errors == []
