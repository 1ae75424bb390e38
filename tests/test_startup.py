"""`qa run`'s start-up in parallel: the temporary Prefect server starts on a thread while the rule set and the
Whisper model the run will use are built, and the flow then finds all three ready."""

from __future__ import annotations

from pathlib import Path

from qa.run import pipeline
from qa.run.startup import has_audio, warm_start

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "scripts_rules"


def test_only_an_inbox_with_audio_is_worth_a_model(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "chat.chat.json").write_text("{}", encoding="utf-8")
    assert not has_audio(tmp_path)
    (tmp_path / "a" / "call.WAV").write_bytes(b"")
    assert has_audio(tmp_path)


def test_the_server_rules_and_model_are_ready_when_the_flow_starts(monkeypatch):
    from prefect.server.api.server import SubprocessASGIServer

    from qa.speech.transcribe import loaded_models

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    settings, _ = pipeline.with_concurrency(pipeline.PipelineSettings(rules_dir=str(RULES)), 2)
    started = warm_start(settings, with_model=True)
    assert started.errors == []
    assert {"prefect_server", "rules", "model", "waited_for_server"} <= set(started.timings)
    assert SubprocessASGIServer().running  # the one the flow's client will use (one per process)
    loaded = loaded_models()
    pipeline.load_model(settings)  # what the run's first call does: nothing more to load
    assert loaded_models() == loaded >= 1


def test_a_broken_rule_set_is_left_to_the_flow_to_report(tmp_path):
    (tmp_path / "bad.yml").write_text("id: [unclosed", encoding="utf-8")
    started = warm_start(pipeline.PipelineSettings(rules_dir=str(tmp_path)), with_model=False, server=False)
    assert len(started.errors) == 1 and started.errors[0].startswith("rules:")


def test_the_temporary_server_ends_with_the_process_that_started_it_even_killed(tmp_path):
    """A `qa run` killed outright (``kill -9``, or a crash in native code: no ``atexit``) used to orphan Prefect's
    uvicorn, which held its port and the caller's pipe: whoever read the run's output waited forever."""
    import os
    import signal
    import subprocess
    import sys

    import httpx

    starter = ("from qa.run.cluster import prefect_api_url, tie_temporary_server\n"
               "assert tie_temporary_server() is tie_temporary_server()\n"
               "print(prefect_api_url(), flush=True)\n"
               "import time; time.sleep(600)\n")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    parent = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, env=env, cwd=REPO)
    try:
        url = parent.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:"), url
        assert httpx.get(f"{url}/health", timeout=30).status_code == 200
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=60)
        # EOF only once every process holding the pipe (the server too) is gone; a hang here is the old bug
        reader = subprocess.run(["timeout", "90", "cat"], stdin=parent.stdout, capture_output=True)
        assert reader.returncode == 0, "the server outlived its parent and still holds its output"
        try:
            httpx.get(f"{url}/health", timeout=5)
        except httpx.TransportError:
            pass
        else:
            raise AssertionError(f"{url} still answers after its parent was killed")
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.stdout.close()
