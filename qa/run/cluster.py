"""Where the flows' tasks run: threads of this process (the default), a local Dask cluster, or an existing one.

The only module of ours that imports ``prefect_dask`` and ``distributed``. :func:`task_runner` turns a
:class:`ClusterSettings` into a Prefect task runner, or ``None`` for the embedded default (the flow's own
thread pool, exactly as fast as before). Every worker process builds the Whisper model and the compiled rule
set once and reuses them (``qa.run.pipeline.get_scorer``, ``qa.speech.transcribe.get_transcriber``); the store is only
written by the flow process.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_SCHEDULER_PORT = 8786
ADDRESS_ENV = "QA_DASK_ADDRESS"


class ClusterError(Exception):
    """The Dask scheduler cannot be reached, or the cluster settings are wrong. ``str()`` names the address."""


@dataclass(frozen=True)
class ClusterSettings:
    """``address``: an existing scheduler (``tcp://host:8786``); ``workers``: a local cluster of that many worker
    processes (one thread each). Neither: the embedded default."""

    address: str | None = None
    workers: int | None = None
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S

    def describe(self) -> str:
        """A few words for logs and the run record."""
        if self.address:
            return f"dask scheduler {self.address}"
        if self.workers:
            return f"local dask cluster of {self.workers} workers"
        return "embedded thread pool"

    def as_dict(self) -> dict[str, Any]:
        return {"dask_address": self.address, "workers": self.workers}


def scheduler_host_port(address: str) -> tuple[str, int]:
    """Host and port of a scheduler address such as ``tcp://10.0.0.5:8786`` (port 8786 when omitted)."""
    text = address.strip()
    if "://" not in text:
        text = f"tcp://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("tcp", "tls") or not parts.hostname:
        raise ClusterError(f"{address}: not a Dask scheduler address (expected tcp://HOST:PORT)")
    try:
        port = parts.port or DEFAULT_SCHEDULER_PORT
    except ValueError as exc:
        raise ClusterError(f"{address}: bad port ({exc})") from exc
    return parts.hostname, port


def check_scheduler(address: str, timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
    """Raise :class:`ClusterError` (naming the address) unless a TCP connection to the scheduler opens in time."""
    host, port = scheduler_host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = f"no answer within {timeout_s:g} s" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ClusterError(
            f"{address}: Dask scheduler unreachable ({reason.lower()}); start one with "
            f"`dask scheduler` and workers with `dask worker {address}`, or check --dask-address / {ADDRESS_ENV}"
        ) from exc


def _worker_env(workers: int) -> dict[str, str]:
    """Environment of local worker processes: the CPU cores shared out so N workers do not oversubscribe."""
    env = {key: os.environ[key] for key in ("HF_HUB_OFFLINE", "OPENBLAS_NUM_THREADS") if key in os.environ}
    if "QA_CPU_THREADS" not in os.environ:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:
            cores = os.cpu_count() or 1
        env["QA_CPU_THREADS"] = str(max(1, cores // workers))
    return env


def worker_threads() -> int | None:
    """The number of threads of the Dask worker this runs on (``None`` outside a Dask worker): how many chunks, and
    so how many calls, it works on at once."""
    try:
        from distributed import get_worker
    except ImportError:  # pragma: no cover - distributed is a dependency
        return None
    try:
        return int(get_worker().state.nthreads)
    except (ValueError, AttributeError):
        return None


def local_cluster_kwargs(workers: int, prefect_api_url: str | None = None) -> dict[str, Any]:
    """``distributed.LocalCluster`` arguments for N single-threaded worker processes, quiet, no dashboard.

    ``prefect_api_url``: the Prefect API the workers report task runs to (this process's one), so that no worker
    starts a temporary Prefect server of its own."""
    env = _worker_env(workers)
    if prefect_api_url:
        env["PREFECT_API_URL"] = prefect_api_url
    return {
        "n_workers": workers,
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": None,
        "silence_logs": logging.WARNING,
        "env": env,
    }


def prefect_api_url() -> str:
    """The Prefect API this process reports to: ``PREFECT_API_URL``, else its temporary (ephemeral) server,
    started now if it is not yet running (the flow then uses the same one)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if url:
        return str(url)
    server = tie_temporary_server()
    server.start()
    return server.api_url


def tie_temporary_server() -> Any:
    """Make Prefect's temporary API server of this process (one per process; every Prefect client that needs it
    asks for the same instance) one that ends with this process, however it ends: its uvicorn runs under
    :mod:`qa.run.tied_server`, which stops it once this process is gone. Returns that instance (started or not);
    idempotent."""
    import subprocess
    import sys

    import prefect
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import get_current_settings

    class TiedServer(SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            # Prefect 3.8's own command, run by the tied wrapper with this process's pid in front
            env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                   "PREFECT__SERVER_FINAL": "1",
                   **get_current_settings().to_environment_variables(exclude_unset=True)}
            return subprocess.Popen(
                [sys.executable, "-m", "qa.run.tied_server", str(os.getpid()),
                 "--app-dir", str(prefect.__module_path__.parent), "--factory",
                 "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
                 "--log-level", "error", "--lifespan", "on"],
                env=env)

    existing = SubprocessASGIServer._instances.get(None)
    if existing is not None and (existing.running or type(existing).__name__ == "TiedServer"):
        return existing
    SubprocessASGIServer._instances.pop(None, None)
    return TiedServer()


def task_runner(settings: ClusterSettings) -> Any:
    """A ``DaskTaskRunner`` for the settings, or ``None`` for the embedded default.

    An address is checked first, so an unreachable scheduler fails at once with :class:`ClusterError`.
    """
    if settings.address and settings.workers:
        raise ClusterError(f"{settings.address}: give either a scheduler address or --workers, not both")
    if settings.workers is not None and settings.workers < 1:
        raise ClusterError(f"--workers: expected at least 1, not {settings.workers}")
    if not settings.address and not settings.workers:
        return None
    quiet_distributed()
    from prefect_dask import DaskTaskRunner

    if settings.address:
        check_scheduler(settings.address, settings.connect_timeout_s)
        return DaskTaskRunner(address=settings.address,
                              client_kwargs={"timeout": f"{settings.connect_timeout_s:g}s"})
    return DaskTaskRunner(cluster_kwargs=local_cluster_kwargs(settings.workers or 1, prefect_api_url()))


def describe_runner(runner: Any) -> str:
    """What runs a flow's tasks, for the run record: «dask scheduler tcp://…», «local dask cluster of N workers»
    or «embedded thread pool of N threads» (a flow run's ``task_runner``)."""
    if type(runner).__name__ == "DaskTaskRunner":
        if getattr(runner, "address", None):
            return f"dask scheduler {runner.address}"
        return f"local dask cluster of {(runner.cluster_kwargs or {}).get('n_workers', '?')} workers"
    if type(runner).__name__ == "ThreadPoolTaskRunner":
        threads = getattr(runner, "_max_workers", None)
        return f"embedded thread pool of {threads} threads" if threads else "embedded thread pool"
    return type(runner).__name__


# the last: the client's gather of a result from the scheduler found the connection closed (a scheduler killed
# while a result was on its way; seen under load in tests/test_cluster.py)
_LOST_MARKERS = ("scheduler-connection-lost", "lost the connection to the scheduler", "ConnectionPool.gather")


def scheduler_lost(exc: BaseException | str) -> bool:
    """Whether a task failed because the flow lost its Dask scheduler (not because of its input): the error says so,
    or (inside a flow run on Dask) the scheduler no longer answers. A killed scheduler does not always leave its
    mark on the error (a task may fail with a bare cancellation), and a lost scheduler must never be blamed on an
    input."""
    if any(m in str(exc) for m in _LOST_MARKERS):
        return True
    if isinstance(exc, str):
        return False
    return _flow_scheduler_gone() or (runner_is_dask() and _comm_error(exc))


_COMM_ERRORS = ("CommClosedError", "StreamClosedError")  # distributed's and tornado's closed connections


def _comm_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from) is a closed or reset connection to the cluster: the flow's
    link to the scheduler or a worker broke (a killed scheduler resets the gather of a result before its port stops
    answering under load). Scoring an input never opens a connection, so this is never an input's fault."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ in _COMM_ERRORS or isinstance(current, ConnectionError):
            return True
        current = current.__cause__ or current.__context__
    return False


def _flow_dask_runner() -> Any:
    """The current flow run's ``DaskTaskRunner`` (``None`` outside a flow run or on another runner)."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    runner = context.task_runner if context else None
    return runner if type(runner).__name__ == "DaskTaskRunner" else None


def lost_error(exc: BaseException) -> RuntimeError:
    """The error recorded for the inputs of a chunk that a lost scheduler took down (it says so, whatever the
    task's own error was)."""
    return RuntimeError(f"lost the connection to the scheduler ({runner_in_use()}): {type(exc).__name__}: {exc}")


def _flow_scheduler_gone() -> bool:
    """Whether the current flow run's Dask scheduler is gone: its client is no longer running, or its address
    refuses a connection. False outside a flow run or on another runner."""
    runner = _flow_dask_runner()
    if runner is None:
        return False
    client = getattr(runner, "_client", None)
    if getattr(client, "status", "running") not in ("running", "newly-created"):
        return True
    address = getattr(runner, "address", None) or getattr(getattr(client, "scheduler", None), "address", None)
    if not address:
        return False
    try:
        check_scheduler(str(address), 2.0)
    except ClusterError:
        return True
    return False


def runner_is_dask() -> bool:
    """Whether the current flow run's tasks run on Dask workers (other processes, maybe other machines)."""
    return _flow_dask_runner() is not None


def dask_threads() -> int | None:
    """Worker threads of the current flow run's Dask cluster, as its scheduler knows them now (``None`` outside a
    flow run on Dask, or where the scheduler cannot say): how many chunks it works on at once."""
    runner = _flow_dask_runner()
    if runner is None:
        return None
    try:
        return sum(runner.client.nthreads().values()) or None
    except Exception:  # a scheduler that cannot say leaves the chunks as they are
        return None


def embedded_threads() -> int:
    """Threads of the embedded runner's pool: one per core this process may use (each transcribes one call at a
    time; ``qa.speech.transcribe.concurrency`` chooses how many of them transcribe at once)."""
    from qa.speech.transcribe.concurrency import usable_cores

    return max(2, usable_cores())


def runner_in_use() -> str:
    """What runs the current flow run's tasks (:func:`describe_runner`; «none» outside a flow run)."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return describe_runner(context.task_runner) if context else "none"


def quiet_distributed() -> None:
    """Keep Dask's INFO chatter (workers starting and stopping) out of the command's output."""
    for name in ("distributed", "distributed.scheduler", "distributed.worker", "distributed.core",
                 "distributed.http.proxy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # a closing worker whose Prefect threads linger is killed after 4 s, with a warning that only alarms
    logging.getLogger("distributed.nanny").setLevel(logging.ERROR)


def start_local_cluster(workers: int) -> Any:
    """A ``distributed.LocalCluster`` of N single-threaded worker processes (for tests and benchmarks; the
    caller closes it). Its ``scheduler_address`` is what ``--dask-address`` takes."""
    quiet_distributed()
    from distributed import LocalCluster

    return LocalCluster(**local_cluster_kwargs(workers, prefect_api_url()))


def connect(address: str, timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> Any:
    """A ``distributed.Client`` of a scheduler (the caller closes it), e.g. to ask workers for their load counts."""
    from distributed import Client

    return Client(address, timeout=f"{timeout_s:g}s", set_as_default=False)
