"""The rescore's scoring processes (qa.run.score_pool) end with the process that started them, however it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_STARTER = """
import os, sys, time
from qa.run.score_pool import _ACTIVE, scoring_processes

with scoring_processes(2, sys.argv[1]):
    pool, _ = next(iter(_ACTIVE.values()))
    [f.result() for f in [pool.submit(os.getpid) for _ in range(8)]]  # every process started (and warm)
    print(" ".join(str(pid) for pid in pool._processes), flush=True)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone too
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_scoring_processes_end_when_the_rescore_is_killed():
    starter = subprocess.Popen([sys.executable, "-c", _STARTER, str(REPO / "scripts_rules")], cwd=REPO,
                               stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        workers = [int(pid) for pid in starter.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(pid) for pid in workers)
        starter.send_signal(signal.SIGKILL)  # no atexit, no pool shutdown
        starter.wait(timeout=60)
        deadline = time.monotonic() + 90  # a loaded CI machine: the watchers look twice a second
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in workers if _alive(pid)], "scoring processes outlived the rescore"
    finally:
        starter.kill()
        for pid in workers if "workers" in locals() else ():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
