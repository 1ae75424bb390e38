"""The child side of Prefect's temporary API server: uvicorn, in a process that ends when the one that started it
does, however that one ends (``kill -9``, a crash in native code: ``atexit`` never runs then).

Run as ``python -m qa.run.tied_server PARENT_PID UVICORN_ARGS…``. A daemon thread looks at the parent process
every half second; once it is gone (this process has been handed to another parent), the server is asked to stop
(SIGTERM, which uvicorn handles), and ended outright if it has not within a few seconds. Without this, the orphaned
server kept its port and the pipes it inherited (a caller reading the run's output waited forever).
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time

POLL_S = 0.5
GRACE_S = 5.0


def _parent_alive(parent: int) -> bool:
    return os.getppid() == parent


def watch_parent(parent: int, poll_s: float = POLL_S, grace_s: float = GRACE_S) -> None:
    """Block until ``parent`` is no longer this process's parent, then stop this process (SIGTERM, then exit)."""
    while _parent_alive(parent):
        time.sleep(poll_s)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace_s)
    os._exit(1)


def main(argv: list[str]) -> None:
    """``argv``: the parent's pid, then uvicorn's own arguments."""
    if not argv or not argv[0].isdigit():
        raise SystemExit("usage: python -m qa.run.tied_server PARENT_PID UVICORN_ARGS…")
    parent = int(argv[0])
    if not _parent_alive(parent):
        raise SystemExit(f"parent process {parent} is already gone")
    threading.Thread(target=watch_parent, args=(parent,), name="qa-parent-watch", daemon=True).start()
    sys.argv = ["uvicorn", *argv[1:]]
    runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
