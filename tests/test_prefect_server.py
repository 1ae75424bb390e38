"""The README's server steps, as written, against a real Prefect server: `prefect server start` offline (no
telemetry errors), `qa schedule INBOX` serving the `nightly` deployment, `prefect deployment run nightly-qa/nightly`,
and the flow run's own log lines readable from the server (what the UI shows).

Everything runs in a temporary PREFECT_HOME on a free port; the server and the schedule are stopped at teardown.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SAMPLES = REPO / "data" / "samples"
TELEMETRY_TROUBLE = ("Traceback", "telemetry", "analytics", "sens-o-matic", "ConnectError", "Failed to send")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def offline_env(home: Path, api_url: str | None = None) -> dict[str, str]:
    """A user's terminal after the README's `export` line: no telemetry, default log level, own Prefect home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "QA_"))}
    env |= {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_HOME": str(home),
            "PREFECT_RUNNER_POLL_FREQUENCY": "2", "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def stop(process: subprocess.Popen) -> None:
    """Ctrl+C to the process group, then kill it if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_for(check, timeout: float, what: str, process: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"{what}: the process exited with {process.returncode}:\n{log.read_text() if log else ''}")
        value = check()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"{what}: not within {timeout:.0f} s:\n{log.read_text()[-3000:] if log else ''}")


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, Path, Path]]:
    """`prefect server start` on a free port: (API URL, Prefect home, server log)."""
    home, log = tmp_path / "prefect-home", tmp_path / "server.log"
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                                    str(port)], env=offline_env(home), stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"

    def healthy() -> bool:
        try:
            return httpx.get(f"{api}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, 120, "prefect server start", process, log)
        yield api, home, log
    finally:
        stop(process)


def test_readme_server_steps_run_offline_and_the_flow_logs_reach_the_server(server, tmp_path):
    api, home, server_log = server
    inbox, work = tmp_path / "inbox", tmp_path / "work"
    inbox.mkdir()
    work.mkdir()
    for name in ("chat_slow.chat.json", "chat_good.chat.json"):
        shutil.copy2(SAMPLES / name, inbox / name)  # complete files (their own times): no settle period to wait
    env = offline_env(home, api)
    schedule_log = tmp_path / "schedule.log"
    with schedule_log.open("w") as out:
        schedule = subprocess.Popen([str(BIN / "qa"), "schedule", str(inbox), "--db", str(work / "qa.duckdb"),
                                     "--rules", str(REPO / "scripts_rules")], cwd=work, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def deployed() -> bool:
            found = httpx.post(f"{api}/deployments/filter", json={}, timeout=5).json()
            return any(d["name"] == "nightly" for d in found)

        wait_for(deployed, 90, "qa schedule registering the nightly deployment", schedule, schedule_log)
        started = subprocess.run([str(BIN / "prefect"), "deployment", "run", "nightly-qa/nightly"], env=env,
                                 cwd=work, capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stdout + started.stderr

        def finished() -> dict | None:
            runs = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=5).json()
            done = [r for r in runs if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")]
            return done[0] if done else None

        run = wait_for(finished, 150, "the nightly flow run", schedule, schedule_log)
        assert run["state_type"] == "COMPLETED", schedule_log.read_text()[-3000:]

        def run_log() -> list[str]:
            logs = httpx.post(f"{api}/logs/filter", json={"logs": {"flow_run_id": {"any_": [run["id"]]}}},
                              timeout=10).json()
            return [entry["message"] for entry in logs]

        # log lines travel in batches, on their own: the run's final state may reach the server before them
        def shipped() -> list[str] | None:
            found = run_log()
            return found if any("Finished in state Completed" in m for m in found) else None

        messages = wait_for(shipped, 120, "the flow run's log lines on the server", schedule, schedule_log)
        assert any("2 new conversations" in m for m in messages), messages  # the flow's own log line
        assert any("Finished in state Completed" in m for m in messages), messages
        assert (work / "qa.duckdb").is_file()
    finally:
        stop(schedule)
    for name, text in (("server", server_log.read_text()), ("qa schedule", schedule_log.read_text())):
        trouble = [t for t in TELEMETRY_TROUBLE if t.lower() in text.lower()]
        assert not trouble, f"{name} printed {trouble}:\n{text[-3000:]}"
