"""A built wheel installed (not editable) into a fresh venv runs from another folder: packaged default rules,
the real nightly flow, an HTML export, `qa init`, and `qa serve` (templates, static files, audio) and `qa export`
started in another folder than the one the call was scored in.

The wheel is built once per session; the fresh venv installs it without dependencies and borrows the
dependencies of the project's own venv through a path file, so the test takes seconds, not a full resolve.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"


@pytest.fixture(scope="session")
def installed_qa(tmp_path_factory) -> Path:
    """The ``qa`` script of a fresh venv holding only the project's wheel."""
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(REPO)],
                   check=True, capture_output=True)
    [wheel] = (root / "dist").glob("*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "borrowed-deps.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True)
    return env_dir / "bin" / "qa"


def qa(script: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | {"COLUMNS": "200", "QA_SETTLE_S": "0"}
    return subprocess.run([str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_installed_package_does_not_come_from_the_checkout(installed_qa, tmp_path):
    python = installed_qa.parent / "python"
    where = subprocess.run([str(python), "-c", "import qa; print(qa.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout
    assert str(REPO) not in where and "site-packages" in where


def test_score_run_and_html_export_from_another_folder(installed_qa, tmp_path):
    scored = qa(installed_qa, tmp_path, "score", str(SAMPLES / "chat_slow.chat.json"), "--json")
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["findings"]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("chat_slow.chat.json", "chat_good.chat.json", "transcript_example.transcript.json"):
        shutil.copy(SAMPLES / name, inbox / name)
    ran = qa(installed_qa, tmp_path, "run", "inbox", "--cache-dir", "")
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "data" / "qa.duckdb").is_file() and "3 scored" in ran.stdout
    exported = qa(installed_qa, tmp_path, "export", "--out", "out", "--format", "html")
    assert exported.returncode == 0, exported.stderr
    page = (tmp_path / "out" / "examples.html").read_text(encoding="utf-8")
    assert "<html" in page and "chat" in page
    assert "Долгий ответ оператора в чате" in page  # rule titles from the packaged rules, not ids


def test_init_then_run_inside_the_new_folder(installed_qa, tmp_path):
    made = qa(installed_qa, tmp_path, "init", "work")
    assert made.returncode == 0, made.stderr
    work = tmp_path / "work"
    shutil.copy(SAMPLES / "chat_slow.chat.json", work / "inbox")
    ran = qa(installed_qa, work, "run", "--cache-dir", "")  # the inbox comes from qa.toml
    assert ran.returncode == 0, ran.stderr
    assert (work / "data" / "qa.duckdb").is_file()
    checked = qa(installed_qa, work, "check-rules")
    assert checked.returncode == 0 and "0 failed" in checked.stdout


def test_page_and_export_started_elsewhere_find_the_audio(installed_qa, tmp_path, transcript_cache,
                                                          sample_db_template):
    """A call scored in one folder; `qa export` and `qa serve` (templates, static files, audio) started in
    another find its recording through the stored absolute path, and speak Russian."""
    import re
    import socket
    import time

    import httpx

    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    (work / "inbox").mkdir(parents=True)
    elsewhere.mkdir()
    for name in ("call_escalation.flac", "call_escalation.json"):
        shutil.copy(SAMPLES / name, work / "inbox" / name)
    ran = qa(installed_qa, work, "run", "inbox", "--cache-dir", str(transcript_cache))
    assert ran.returncode == 0, ran.stderr
    db = str(work / "data" / "qa.duckdb")
    exported = qa(installed_qa, elsewhere, "export", "--db", db, "--out", "out", "--format", "html", "--rule",
                  "escalation_complaint")
    assert exported.returncode == 0, exported.stderr
    page = (elsewhere / "out" / "examples.html").read_text(encoding="utf-8")
    assert "data:audio/ogg;base64," in page and "Клиент хочет пожаловаться" in page
    assert qa(installed_qa, elsewhere, "users", "add", "boss", "--db", db, "--password",
              "correct horse battery").returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    server = subprocess.Popen([str(installed_qa), "serve", "--db", db, "--port", str(port)], cwd=elsewhere, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10, follow_redirects=True) as client:
            for _ in range(60):
                try:
                    login = client.get("/login")
                    break
                except httpx.HTTPError:
                    assert server.poll() is None, server.stdout.read().decode()
                    time.sleep(0.5)
            assert login.status_code == 200 and "Вход" in login.text
            token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
            signed = client.post("/login", data={"username": "boss", "password": "correct horse battery",
                                                 "csrf_token": token, "next": "/"})
            assert signed.status_code == 200 and "call-0003" in signed.text
            conversation = client.get("/conversations/call-0003").text
            assert '<audio id="player"' in conversation and "Файл записи не найден" not in conversation
            assert "Клиент хочет пожаловаться" in conversation
            audio = client.get("/audio/call-0003")
            # found and decoded: served beeped (a WAV) to an account without the personal-data permission
            assert audio.status_code == 200 and audio.content[:4] == b"RIFF" and len(audio.content) > 100_000
            assert client.get("/static/style.css").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=20)
