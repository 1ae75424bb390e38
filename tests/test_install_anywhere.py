"""A built wheel installed (not editable) into a fresh venv runs from another folder: packaged default rules,
the real nightly flow, an HTML export and `qa init`.

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
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | {"COLUMNS": "200"}
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
