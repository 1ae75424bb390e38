"""A long call in windows: decoded blocks gathered into windows of about ten minutes, each cut at the quietest
moment near its end, so that a three-hour call is transcribed holding one window in memory instead of the whole
decoded file (5 GiB peak before, see ``benchmarks/bench_memory.py``).

A call no longer than one window plus the search span comes back whole, exactly as before: windows change nothing
for ordinary calls. ``QA_AUDIO_WINDOW_S`` sets the window (``0``: never cut, the whole call in memory).

What a window costs is mostly not its samples (10 minutes of a stereo call are 73 MiB of float32) but Whisper's batch:
CTranslate2's encoder holds every head's 1500 × 1500 attention scores of every 30-second chunk in the batch at once.
A 300 s block of dense speech raised the resident memory by 789 MiB at faster-whisper's CPU batch of 8, 506 MiB at 4
and 385 MiB at 2, with the same 290 words, the same times and probabilities, and the same wall time on 2 cores (the
batched pipeline decodes each chunk alone; the batch only groups them). So a long call is decoded with a batch of at
most :data:`WINDOW_BATCH` on a CPU (:func:`window_batch_size`; a GPU's memory is not the process's). The CPU default
is that batch for every call now (:data:`~qa.speech.transcribe.options.CPU_BATCH`); the cap still holds a larger
``QA_BATCH_SIZE`` down inside windows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import numpy as np

from qa.speech.audio import TARGET_RATE

WINDOW_ENV = "QA_AUDIO_WINDOW_S"
DEFAULT_WINDOW_S = 600.0
SEARCH_S = 30.0  # the cut is the quietest moment in the last 30 s of a window
_FRAME = TARGET_RATE // 10  # 100 ms frames when looking for the quietest moment
WINDOW_BATCH = 2  # Whisper's batch for the windows of a long call on a CPU (see above)


def window_seconds() -> float:
    """The window length: ``$QA_AUDIO_WINDOW_S`` (0 turns windows off), else 600 s."""
    value = os.environ.get(WINDOW_ENV, "").strip()
    if not value:
        return DEFAULT_WINDOW_S
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{WINDOW_ENV} must be a number of seconds, not {value!r}") from None
    if seconds != 0 and seconds < 2 * SEARCH_S:
        raise ValueError(f"{WINDOW_ENV} must be 0 (no windows) or at least {2 * SEARCH_S:g} s, not {value!r}")
    return seconds


def window_batch_size(batch: int, device: str) -> int:
    """The batch the windows of a long call are decoded with: ``batch`` capped at :data:`WINDOW_BATCH` on a CPU (0, the
    sequential pipeline, stays 0; a CUDA device keeps its batch)."""
    return min(batch, WINDOW_BATCH) if device != "cuda" and batch else batch


def quietest_cut(samples: np.ndarray, start: int, end: int) -> int:
    """The sample index in ``[start, end)`` at the middle of the quietest 100 ms frame of all channels."""
    span = samples[:, start:end]
    frames = span.shape[1] // _FRAME
    if frames < 1:
        return end
    energy = np.square(span[:, : frames * _FRAME].astype(np.float64)).reshape(span.shape[0], frames, _FRAME)
    quietest = int(np.argmin(energy.sum(axis=(0, 2))))
    return start + quietest * _FRAME + _FRAME // 2


def gather(blocks: Iterator[np.ndarray], window_s: float) -> tuple[list[np.ndarray], bool]:
    """The first blocks of a call, up to one window plus the search span; and whether that is all of it."""
    limit = int((window_s + SEARCH_S) * TARGET_RATE) if window_s else None
    taken: list[np.ndarray] = []
    count = 0
    for block in blocks:
        taken.append(block)
        count += block.shape[1]
        if limit is not None and count > limit:
            return taken, False
    return taken, True


def windows(first: list[np.ndarray], rest: Iterable[np.ndarray], window_s: float
            ) -> Iterator[tuple[int, np.ndarray]]:
    """``(offset in samples, window)`` pairs covering the blocks ``first`` then ``rest`` with no gap and no overlap:
    each window about ``window_s`` long, cut at its quietest moment in the last :data:`SEARCH_S` seconds."""
    size, search = int(window_s * TARGET_RATE), int(SEARCH_S * TARGET_RATE)
    pending = np.concatenate(first, axis=1)
    first.clear()
    offset = 0
    incoming = iter(rest)
    exhausted = False
    while True:
        parts = [pending]
        length = pending.shape[1]
        while not exhausted and length <= size + search:
            block = next(incoming, None)
            if block is None:
                exhausted = True
            else:
                parts.append(block)
                length += block.shape[1]
        pending = np.concatenate(parts, axis=1) if len(parts) > 1 else pending
        del parts
        if exhausted and pending.shape[1] <= size + search:
            if pending.shape[1]:
                yield offset, pending
            return
        cut = quietest_cut(pending, size - search, size)
        window, pending = pending[:, :cut], np.ascontiguousarray(pending[:, cut:])
        yield offset, window
        del window
        offset += cut
