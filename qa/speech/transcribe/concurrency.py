"""How many calls one process transcribes at once, and with how many CTranslate2 threads each.

One Whisper decode does not fill a CPU: CTranslate2's intra-op threads scale poorly on this model (2 threads on one
call were 1.12× faster than 1 on the 2-core development machine), while two 1-thread decodes side by side do nearly
twice the work. So the default on a CPU is **one transcription per core, one thread each**: the model is loaded
once with ``inter_threads`` = that many replicas (their weights shared, CTranslate2 keeps one copy on a device) and
``intra_threads`` = 1, and each transcription takes a replica of its own (:mod:`~qa.speech.transcribe.models`).

The count is capped by memory: each transcription at once may need :data:`MIB_PER_TRANSCRIPTION` (decoded audio,
features, the batch of 30-second windows, CTranslate2's buffers; measured by ``make bench-night``), on top of
:data:`PROCESS_MIB` for the process itself, the shared model, the rule set and the lemmatiser. On a CUDA device one
transcription at a time is kept: the batched pipeline already fills the GPU.

``QA_TRANSCRIPTIONS`` (``qa run --transcriptions N``) and ``QA_CPU_THREADS`` override the choice; what was chosen,
and why, is recorded in ``runs.settings``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRANSCRIPTIONS_ENV = "QA_TRANSCRIPTIONS"
THREADS_ENV = "QA_CPU_THREADS"
# Memory budget per transcription running at once (MiB), measured on calls of a few minutes: 400 with one decode per
# channel at Whisper's CPU batch of 8; 650 once a primed channel with an unsure word was decoded again without the
# prompt (2 calls at once peaked at 2270 MiB on the full-size `make bench-night`); 450 since the CPU batch is 2 (the
# same night: 1609 MiB with 2 at once, 1024 + 2 x 293; a 163 s mono call adds 318-378 MiB to its process, 300 s of
# continuous talk 385 MiB). A call longer than 10.5 minutes needs no more (windows: a 3-hour call peaked at 0.88 GiB
# for the whole `qa score` process); see README "Sizing a machine".
MIB_PER_TRANSCRIPTION = 450
PROCESS_MIB = 1024  # the process before its first transcription: Python, Prefect, the model, rules, lemmatiser
# per process: the Python parts of every decode share one interpreter lock, so a bigger machine is better served by
# several processes (Dask workers); only 2 cores were measured, this bound is a guard, not a finding
MAX_TRANSCRIPTIONS = 16


@dataclass(frozen=True)
class Concurrency:
    """Calls transcribed at once in one process, the CTranslate2 threads of each, and why."""

    transcriptions: int
    threads: int
    chosen_by: str

    def as_dict(self) -> dict[str, Any]:
        """The settings recorded with a run."""
        return {"transcriptions": self.transcriptions, "cpu_threads": self.threads,
                "transcriptions_chosen_by": self.chosen_by}


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def available_memory_mib() -> int | None:
    """Memory this process may still use, in MiB: the system's available memory, or the cgroup's limit minus its
    use where that is lower (a container); ``None`` where neither can be read."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) // 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text(encoding="ascii").strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text(encoding="ascii").strip()
        if limit != "max":
            found.append((int(limit) - int(used)) // 2**20)
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def _positive(name: str, raw: str | None) -> int | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a whole number") from exc
    if value < 1:
        raise ValueError(f"{name}={raw!r}: expected at least 1")
    return value


def choose(device: str = "cpu", transcriptions: int | None = None, threads: int | None = None,
           cores: int | None = None, memory_mib: int | None = None) -> Concurrency:
    """The concurrency for one process on ``device`` (``cpu`` or ``cuda``).

    ``transcriptions`` and ``threads`` are the user's (``None``: ``QA_TRANSCRIPTIONS`` / ``QA_CPU_THREADS``, else
    chosen here); ``cores`` and ``memory_mib`` default to this machine's (:func:`usable_cores`,
    :func:`available_memory_mib`).
    """
    given_n = transcriptions if transcriptions is not None else _positive(TRANSCRIPTIONS_ENV,
                                                                          os.environ.get(TRANSCRIPTIONS_ENV))
    given_t = threads if threads is not None else _positive(THREADS_ENV, os.environ.get(THREADS_ENV))
    if min(given_n or 1, given_t or 1) < 1:
        raise ValueError(f"transcriptions and threads must be at least 1 (got {given_n}, {given_t})")
    cores = cores or usable_cores()
    memory_mib = available_memory_mib() if memory_mib is None else memory_mib
    if given_n is not None:
        return Concurrency(given_n, given_t or max(1, cores // given_n), "set")
    if device == "cuda":
        return Concurrency(1, given_t or cores, "auto: one at a time on a GPU")
    threads_each = given_t or 1
    by_cores = max(1, cores // threads_each)
    by_memory = MAX_TRANSCRIPTIONS if memory_mib is None else max(1, (memory_mib - PROCESS_MIB)
                                                                  // MIB_PER_TRANSCRIPTION)
    count = min(by_cores, by_memory, MAX_TRANSCRIPTIONS)
    memory = "memory unknown" if memory_mib is None else f"{memory_mib / 1024:.1f} GiB available"
    limit = " (memory-bound)" if by_memory < by_cores else ""
    return Concurrency(count, threads_each, f"auto: {cores} cores, {memory}{limit}")
