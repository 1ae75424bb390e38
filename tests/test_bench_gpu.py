"""make bench-gpu without a GPU: a clear message and exit status 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qa.speech.transcribe import cuda_available

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(cuda_available(), reason="a CUDA device is here: the benchmark would run for real")
def test_no_cuda_device_exits_2_with_a_message() -> None:
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_gpu.py"), "--no-cpu"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "no CUDA device found" in done.stderr
    assert "Traceback" not in done.stderr
