"""Runs on Dask: the task runner choice, an unreachable scheduler, and real local clusters of worker processes —
the nightly flow over them, each worker loading the Whisper model and the rule set once, and a worker killed in
the middle of a chunk."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.run.cluster import ClusterError, ClusterSettings, check_scheduler, local_cluster_kwargs, scheduler_host_port
from qa.store import open_store

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
RULES = REPO / "scripts_rules"
EVAL_AUDIO = REPO / "tests" / "fixtures" / "eval" / "audio"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chat_inbox(folder: Path, copies: int) -> Path:
    """``copies`` chats with their own ids, made from the two sample chats."""
    folder.mkdir(parents=True)
    for i in range(copies):
        source = SAMPLES / ("chat_good.chat.json" if i % 2 == 0 else "chat_slow.chat.json")
        chat = json.loads(source.read_text(encoding="utf-8"))
        chat["id"] = f"chat-copy-{i:03d}"
        (folder / f"copy_{i:03d}.chat.json").write_text(json.dumps(chat, ensure_ascii=False), encoding="utf-8")
    return folder


def per_id_counts(db: Path, table: str) -> dict[str, int]:
    return dict(open_store(db).query(f"SELECT conversation_id, count(*) FROM {table} GROUP BY ALL")[1])


@pytest.mark.parametrize(("address", "host", "port"), [
    ("tcp://10.0.0.5:8786", "10.0.0.5", 8786),
    ("tcp://scheduler", "scheduler", 8786),
    ("127.0.0.1:9000", "127.0.0.1", 9000),
])
def test_scheduler_addresses(address, host, port):
    assert scheduler_host_port(address) == (host, port)


@pytest.mark.parametrize("address", ["http://host:8786", "tcp://:8786", "tcp://host:port"])
def test_a_bad_address_is_named(address):
    with pytest.raises(ClusterError, match=r"tcp://HOST:PORT|bad port"):
        scheduler_host_port(address)


def test_an_unreachable_scheduler_fails_at_once_naming_it():
    address = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ClusterError, match=address):
        check_scheduler(address, timeout_s=2)
    assert time.monotonic() - started < 10


def test_cli_run_against_an_unreachable_scheduler_exits_non_zero(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    inbox = chat_inbox(tmp_path / "inbox", 1)
    result = CliRunner().invoke(app, ["run", str(inbox), "--db", str(tmp_path / "qa.duckdb"),
                                      "--dask-address", address])
    assert result.exit_code == 2
    assert "Dask scheduler unreachable" in result.output and address in result.output.replace("\n", " ")
    assert not (tmp_path / "qa.duckdb").exists()  # nothing was started, nothing half-written


def test_the_env_variable_gives_the_address_too(tmp_path, monkeypatch):
    address = f"tcp://127.0.0.1:{free_port()}"
    monkeypatch.setenv("QA_DASK_ADDRESS", address)
    result = CliRunner().invoke(app, ["run", str(chat_inbox(tmp_path / "inbox", 1)), "--db",
                                      str(tmp_path / "qa.duckdb")])
    assert result.exit_code == 2 and "unreachable" in result.output


def test_address_and_workers_together_are_refused(tmp_path):
    result = CliRunner().invoke(app, ["run", str(chat_inbox(tmp_path / "inbox", 1)), "--workers", "2",
                                      "--dask-address", "tcp://127.0.0.1:8786"])
    assert result.exit_code == 2 and "not both" in result.output


def test_the_default_is_the_embedded_thread_pool():
    from prefect.task_runners import ThreadPoolTaskRunner

    from qa.flows.nightly import nightly_flow, nightly_qa

    assert nightly_flow(None) is nightly_qa
    assert nightly_flow(ClusterSettings()) is nightly_qa
    assert isinstance(nightly_qa.task_runner, ThreadPoolTaskRunner)


def test_the_runner_is_described_for_the_run_record():
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from qa.run.cluster import describe_runner, runner_in_use

    assert describe_runner(ThreadPoolTaskRunner(max_workers=2)) == "embedded thread pool of 2 threads"
    assert describe_runner(DaskTaskRunner(address="tcp://10.0.0.5:8786")) == "dask scheduler tcp://10.0.0.5:8786"
    assert describe_runner(DaskTaskRunner(cluster_kwargs={"n_workers": 4})) == "local dask cluster of 4 workers"
    assert runner_in_use() == "none"  # outside a flow run


def test_local_workers_share_out_the_cores(monkeypatch):
    monkeypatch.delenv("QA_CPU_THREADS", raising=False)
    kwargs = local_cluster_kwargs(2)
    assert (kwargs["n_workers"], kwargs["threads_per_worker"], kwargs["processes"]) == (2, 1, True)
    assert int(kwargs["env"]["QA_CPU_THREADS"]) == max(1, len(os.sched_getaffinity(0)) // 2)
    monkeypatch.setenv("QA_CPU_THREADS", "3")
    assert "QA_CPU_THREADS" not in local_cluster_kwargs(2)["env"]  # the user's setting is inherited


# --- real clusters --------------------------------------------------------------------------------------------


@pytest.fixture
def cluster():
    """A real local Dask cluster of two single-threaded worker processes, closed after the test."""
    from qa.run.cluster import connect, start_local_cluster

    local = start_local_cluster(2)
    client = connect(local.scheduler_address)
    try:
        yield local, client
    finally:
        client.close()
        local.close()


@pytest.mark.slow
def test_each_worker_loads_the_model_and_rules_once(cluster, tmp_path):
    """Four calls (no transcript cache) and four chats over two workers: the default chunks of 4 calls are cut to 2
    so that both workers get calls, and every worker that transcribed built one Whisper model and one rule set,
    whatever number of chunks it took."""
    from qa.flows.nightly import nightly_flow

    local, client = cluster
    inbox = chat_inbox(tmp_path / "inbox", 4)
    for name in ("e01", "e02", "e03", "e04"):
        shutil.copy(EVAL_AUDIO / f"{name}.ogg", inbox / f"{name}.ogg")
    db = tmp_path / "qa.duckdb"
    summary = nightly_flow(ClusterSettings(address=local.scheduler_address))(
        inbox=str(inbox), db=str(db), rules=str(RULES), cache_dir=None)
    assert (summary["processed"], summary["failed"]) == (8, 0), summary["failures"]
    run_settings = open_store(db).query("SELECT settings FROM runs")[1][0][0]
    run_settings = json.loads(run_settings) if isinstance(run_settings, str) else run_settings
    assert (run_settings["chunk_size"], run_settings["text_chunk_size"]) == (2, 250)
    loads = client.run(lambda: __import__("qa_eval.process_loads").process_loads.counts())
    assert len(loads) == 2
    # the workers report to this process's Prefect API instead of starting temporary servers of their own
    from qa.run.cluster import prefect_api_url

    urls = client.run(lambda: __import__("os").environ.get("PREFECT_API_URL"))
    assert set(urls.values()) == {prefect_api_url()}
    assert all(c.get("whisper", 0) <= 1 and c.get("ruleset", 0) <= 1 for c in loads.values()), loads
    assert 1 <= sum(c.get("whisper", 0) for c in loads.values()) <= 2 < 4  # four calls, at most two loads
    assert set(per_id_counts(db, "scores").values()) == {1}
    channels = dict(open_store(db).query("SELECT channel, count(*) FROM conversations GROUP BY ALL")[1])
    assert channels == {"call": 4, "chat": 4}


def _stall_first_chunk(marker: str, stall_s: float) -> None:
    """Runs on each worker: the first chunk this cluster prepares writes its worker's pid and stalls."""
    import qa.run.pipeline

    original = qa.run.pipeline.prepare_chunk

    def stalling(items, settings):
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return original(items, settings)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        time.sleep(stall_s)
        return original(items, settings)

    qa.run.pipeline.prepare_chunk = stalling


@pytest.mark.slow
def test_a_worker_killed_mid_chunk_loses_and_duplicates_nothing(cluster, tmp_path):
    from qa.flows.nightly import nightly_flow

    local, client = cluster
    inbox = chat_inbox(tmp_path / "inbox", 12)
    db = tmp_path / "qa.duckdb"
    marker = str(tmp_path / "stalled.pid")
    client.run(_stall_first_chunk, marker, 60.0)
    killed: list[int] = []

    def kill_the_stalled_worker() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if os.path.exists(marker) and os.path.getsize(marker):
                pid = int(Path(marker).read_text())
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_the_stalled_worker, daemon=True)
    killer.start()
    flow = nightly_flow(ClusterSettings(address=local.scheduler_address))
    summary = flow(inbox=str(inbox), db=str(db), rules=str(RULES), chunk_size=2, cache_dir=None)
    killer.join(timeout=5)
    assert killed, "no worker stalled in a chunk"
    # every conversation is stored exactly once or recorded as failed
    stored = per_id_counts(db, "conversations")
    failed = open_store(db).query("SELECT count(*) FROM failures")[1][0][0]
    assert summary["processed"] + summary["failed"] == 12
    assert len(stored) + failed == 12 and set(stored.values()) <= {1}
    assert set(per_id_counts(db, "scores").values()) <= {1}
    # the killed worker's chunk was run again elsewhere: nothing lost
    assert summary["processed"] == 12, summary["failures"]
    # a re-run stores nothing twice
    again = flow(inbox=str(inbox), db=str(db), rules=str(RULES), chunk_size=2, cache_dir=None)
    assert (again["processed"], again["skipped"]) == (0, 12)
    assert set(per_id_counts(db, "conversations").values()) == {1}
    assert sum(per_id_counts(db, "conversations").values()) == 12


@pytest.mark.slow
def test_cli_run_on_a_local_cluster_of_workers(tmp_path):
    """`qa run --workers 2` starts its own cluster, scores every chat once, and leaves no worker running."""
    import psutil

    inbox = chat_inbox(tmp_path / "inbox", 6)
    db = tmp_path / "qa.duckdb"
    result = CliRunner().invoke(app, ["run", str(inbox), "--db", str(db), "--workers", "2", "--chunk-size", "2"])
    assert result.exit_code == 0, result.output
    assert "6 scored, 0 failed" in result.output
    assert set(per_id_counts(db, "scores").values()) == {1} and len(per_id_counts(db, "scores")) == 6
    settings = open_store(db).query("SELECT settings FROM runs")[1][0][0]
    settings = json.loads(settings) if isinstance(settings, str) else settings
    assert settings["runner"] == "local dask cluster of 2 workers"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = [p for p in psutil.Process().children(recursive=True)
                   if p.is_running() and "spawn_main" in " ".join(p.cmdline())]  # dask's worker processes
        if not workers:
            break
        time.sleep(0.5)
    assert not workers, [p.cmdline() for p in workers]


def kill_scheduler_mid_run(tmp_path: Path, qa_args: list[str], done_before_kill: int = 4) -> tuple[str, str, int]:
    """Run ``python -m qa.cli *qa_args --dask-address A`` against a `dask scheduler` and one `dask worker` started
    as an operator starts them; SIGKILL the scheduler once ``done_before_kill`` tasks are done. The address, the
    command's output and its exit code."""
    import subprocess
    import sys

    from qa.run.cluster import connect

    address = f"tcp://127.0.0.1:{free_port()}"
    dask = str(Path(sys.executable).with_name("dask"))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    scheduler = subprocess.Popen([dask, "scheduler", "--port", address.rsplit(":", 1)[1], "--no-dashboard"], **quiet)
    worker = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                check_scheduler(address, 1.0)
                break
            except ClusterError:
                assert time.monotonic() < deadline, "the scheduler did not start"
                time.sleep(0.5)
        worker = subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard"], **quiet)
        run = subprocess.Popen([sys.executable, "-m", "qa.cli", *qa_args, "--dask-address", address], cwd=REPO,
                               text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        watcher = connect(address)
        try:  # kill it once the run's tasks have reached it and some are done
            deadline = time.monotonic() + 180
            while run.poll() is None and time.monotonic() < deadline:
                states = watcher.run_on_scheduler(lambda dask_scheduler: [t.state for t in
                                                                           dask_scheduler.tasks.values()])
                if sum(state == "memory" for state in states) >= done_before_kill:
                    break
                time.sleep(0.2)
        finally:
            watcher.close()
        assert run.poll() is None, run.communicate()[0]
        os.killpg(scheduler.pid, signal.SIGKILL)
        output = run.communicate(timeout=300)[0]
    finally:
        for process in (scheduler, worker):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    return address, output, run.returncode


def test_a_closed_connection_to_the_cluster_is_never_an_inputs_fault():
    """A killed scheduler may first show as a reset gather (CommClosedError from ConnectionResetError) while its port
    still answers: that, too, is the cluster's fault; an input's own error is not."""
    from distributed.comm.core import CommClosedError

    from qa.run import cluster as cluster_module

    try:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except ConnectionResetError as reset:
            raise CommClosedError("in <TCP (closed) ConnectionPool.gather>") from reset
    except CommClosedError as exc:
        closed = exc
    assert cluster_module._comm_error(closed)
    assert cluster_module._comm_error(RuntimeError("wrapped")) is False
    wrapped = RuntimeError("the task failed")
    wrapped.__cause__ = closed
    assert cluster_module._comm_error(wrapped)
    assert not cluster_module.scheduler_lost(ValueError("copy_003.chat.json: bad time"))  # outside a flow on Dask


@pytest.mark.slow
def test_a_scheduler_killed_mid_run_fails_the_run_clearly_and_a_rerun_completes(tmp_path):
    """The scheduler is SIGKILLed while the run's tasks are on it: the run exits 2 naming the scheduler, the
    conversations not done are recorded as failed (none half-written), and a re-run scores them, each once."""
    inbox = chat_inbox(tmp_path / "inbox", 40)
    db = tmp_path / "qa.duckdb"
    address, output, code = kill_scheduler_mid_run(tmp_path, ["run", str(inbox), "--db", str(db), "--chunk-size",
                                                              "1", "--cache-dir", ""])
    assert code == 2, output
    error = " ".join(output[output.rindex("error:"):].split())
    assert address in error and "lost the connection to the scheduler" in error, output
    stored = per_id_counts(db, "conversations")
    failed = {row[0] for row in open_store(db).query("SELECT source_path FROM failures")[1]}
    assert 0 < len(stored) < 40 and set(stored.values()) == {1}
    assert len(stored) + len(failed) == 40
    assert open_store(db).query("SELECT status FROM runs")[1] == [("failed",)]
    rerun = CliRunner().invoke(app, ["run", str(inbox), "--db", str(db), "--cache-dir", ""])
    assert rerun.exit_code == 0, rerun.output
    assert set(per_id_counts(db, "conversations").values()) == {1} and len(per_id_counts(db, "conversations")) == 40
    assert set(per_id_counts(db, "scores").values()) == {1}


@pytest.mark.slow
def test_a_scheduler_killed_mid_rescore_interrupts_it_and_a_resume_finishes_it(tmp_path):
    """A rescore on Dask that loses its scheduler exits 2 naming it and the last page written; the pages not
    written are not recorded as failed, and `qa rescore` carries on after that page, each conversation once."""
    inbox = chat_inbox(tmp_path / "inbox", 40)
    db = tmp_path / "qa.duckdb"
    assert CliRunner().invoke(app, ["run", str(inbox), "--db", str(db), "--cache-dir", ""]).exit_code == 0
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    first = sorted(rules.glob("*.yml"))[0]
    first.write_text(first.read_text(encoding="utf-8") + "# changed: a new rule set version\n", encoding="utf-8")
    args = ["rescore", "--db", str(db), "--rules", str(rules), "--chunk-size", "1"]
    address, output, code = kill_scheduler_mid_run(tmp_path, args)
    assert code == 2, output
    error = " ".join(output[output.rindex("error:"):].split())
    assert address in error and "lost the connection to the scheduler mid-rescore" in error, output
    [(run_id, status)] = open_store(db).query("SELECT run_id, status FROM runs WHERE kind = 'rescore'")[1]
    assert status == "interrupted" and run_id in error
    [(written, last)] = open_store(db).query(
        "SELECT sum(conversations), max(last_conversation_id) FROM rescore_progress")[1]
    assert 0 < written < 40 and last in error
    failures = open_store(db).query("SELECT stage, error FROM failures")[1]
    assert failures == [], failures  # a lost scheduler is no input's fault
    resumed = CliRunner().invoke(app, ["rescore", "--db", str(db), "--rules", str(rules)])
    assert resumed.exit_code == 0, resumed.output
    assert f"Resumed rescore {run_id} after {last}" in " ".join(resumed.output.split())
    assert open_store(db).query("SELECT status FROM runs WHERE kind = 'rescore'")[1] == [("completed",)]
    version = open_store(db).query("SELECT ruleset_version FROM runs WHERE kind = 'rescore'")[1][0][0]
    counts = dict(open_store(db).query(
        "SELECT conversation_id, count(*) FROM scores WHERE ruleset_version = ? GROUP BY ALL", [version])[1])
    assert len(counts) == 40 and set(counts.values()) == {1}
