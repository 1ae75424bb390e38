"""A call recorded as split legs (one file per direction: Asterisk's ``-in``/``-out``, MixMonitor's ``r``/``t``) read as
one call with a channel per leg, block by block (:class:`LegsStream`): a three-hour call's legs are never held whole.

Each leg is mixed down to one channel; a shorter leg is padded with silence to the longer one's length (both start
when the recording does). A leg that cannot be decoded is an :class:`~qa.errors.AudioError` naming that file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from qa.speech.audio import TARGET_RATE, AudioStream, DecodedAudio, RawFormat, _Samples, file_sha256


def legs_sha256(paths: Sequence[Path]) -> str:
    """The content key of a call recorded as split legs: the sha256 of its legs' hashes, in channel order."""
    return hashlib.sha256("".join(file_sha256(Path(p)) for p in paths).encode()).hexdigest()


def _one_channel(block: np.ndarray) -> np.ndarray:
    """A leg's block mixed down to one channel (a mono leg as it is)."""
    return block[0] if block.shape[0] == 1 else np.mean(block, axis=0).astype(np.float32)


class LegsStream:
    """The legs of a split call as one stream: :meth:`blocks` yields arrays of shape (legs, samples) at 16 kHz, each
    leg's decoded blocks mixed down to one channel and put side by side as they come, a leg that has ended padded
    with silence. Only the blocks not yet paired are held (a few thousand samples), never a whole leg.

    It reads like an :class:`~qa.speech.audio.AudioStream` (``path``: the first leg; ``notes`` name their leg;
    ``source_rate``: the lowest of the legs'), and is closed on leaving a ``with`` block.
    """

    def __init__(self, paths: Sequence[Path], raw: RawFormat | None = None) -> None:
        if not paths:
            raise ValueError("a split call needs at least one leg")
        self.legs: list[AudioStream] = []
        try:
            for p in paths:
                self.legs.append(AudioStream(Path(p), raw))
        except BaseException:
            self.close()
            raise
        self.path = self.legs[0].path
        self.samples = 0  # yielded so far, per channel

    @property
    def source_rate(self) -> int:
        return min(leg.source_rate for leg in self.legs)

    @property
    def source_channels(self) -> int:
        return len(self.legs)

    @property
    def notes(self) -> list[str]:
        return [f"{leg.path.name}: {note}" for leg in self.legs for note in leg.notes]

    def __enter__(self) -> LegsStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for leg in self.legs:
            leg.close()

    def blocks(self) -> Iterator[np.ndarray]:
        """The legs side by side, block by block: float32 arrays of shape (legs, samples)."""
        sources = [leg.blocks() for leg in self.legs]
        pending: list[np.ndarray] = [np.zeros(0, dtype=np.float32) for _ in sources]
        ended = [False] * len(sources)
        while True:
            for k, source in enumerate(sources):
                while not ended[k] and not pending[k].size:  # an ended leg holds nothing: it was drained first
                    block = next(source, None)
                    if block is None:
                        ended[k] = True
                    else:
                        pending[k] = _one_channel(block)
            live = [k for k in range(len(sources)) if not ended[k]]
            if not live:
                return
            size = min(pending[k].size for k in live)
            out = np.zeros((len(sources), size), dtype=np.float32)  # an ended leg: silence
            for k in live:
                out[k] = pending[k][:size]
                pending[k] = pending[k][size:]
            self.samples += size
            yield out


def decode_legs(paths: Sequence[Path], raw: RawFormat | None = None) -> DecodedAudio:
    """A split call decoded whole (to play or cut clips from): :class:`LegsStream`'s blocks in one array."""
    with LegsStream(paths, raw) as stream:
        longest = max((leg.container.duration or 0) for leg in stream.legs)  # microseconds, as the headers say
        out = _Samples(int(longest / 1_000_000 * TARGET_RATE))
        for block in stream.blocks():
            out.append(block)
    samples = out.samples()
    channels = [np.ascontiguousarray(row) for row in samples]
    return DecodedAudio(channels=channels, duration_s=samples.shape[1] / TARGET_RATE,
                        source_sample_rate=stream.source_rate, source_channels=len(channels), notes=stream.notes)
