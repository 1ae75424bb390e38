"""Counts of the heavy objects a process has built (Whisper models, compiled rule sets), and its peak memory.

Each worker process of a cluster builds each of them once and reuses it; a test or a benchmark asks every worker
how often it did (``client.run(process_loads.counts)``). The counts are read off the product's own caches.
"""

from __future__ import annotations

import resource


def counts() -> dict[str, int]:
    """How many heavy objects of each kind this process has built so far (kinds it built none of are left out)."""
    from qa.run.pipeline import built_scorers
    from qa.speech.transcribe import loaded_models

    found = {"whisper": loaded_models(), "ruleset": built_scorers()}
    return {kind: n for kind, n in found.items() if n}


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
