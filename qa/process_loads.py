"""Counts of the heavy objects this process has built (Whisper models, compiled rule sets, lemmatisers).

Each worker process of a cluster builds each of them once and reuses it; these counts let a test or a benchmark
ask every worker how often it did (``client.run(process_loads.counts)``).
"""

from __future__ import annotations

import resource
import threading
from collections import Counter

_counts: Counter[str] = Counter()
_lock = threading.Lock()


def record(kind: str) -> None:
    """Note that this process has built one more heavy object of ``kind`` (``whisper``, ``ruleset``…)."""
    with _lock:
        _counts[kind] += 1


def counts() -> dict[str, int]:
    """How many heavy objects of each kind this process has built so far."""
    with _lock:
        return dict(_counts)


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
