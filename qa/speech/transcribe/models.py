"""The Whisper model cache: each model loads once per process and is shared by every transcriber that uses it.

A model is loaded with as many CTranslate2 replicas (``inter_threads``, faster-whisper's ``num_workers``) as calls the
process transcribes at once, each with ``intra_threads`` CPU threads; the replicas share the weights. Every
transcription takes one :class:`Replica` for the whole of a channel's decode (:meth:`LoadedModel.replica`) and gives
it back after: the batched pipeline keeps state between the windows of one decode, so a replica is never shared.

A channel decoded twice (primed, then without the prompt: :mod:`~qa.speech.transcribe.redecode`) is cut into the same
chunks both times, so the second decode reuses the first one's encoder outputs (:meth:`Replica.reusing_encoder`): only
Whisper's decoder runs again.

faster-whisper is imported here lazily (on the first load), so that importing the package stays cheap.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.speech.transcribe.allocator import tune_allocator
from qa.speech.transcribe.options import TranscriptionOptions
from qa.speech.whisper_model import resolve_model


class EncoderMemo:
    """The shared model as one replica's batched pipeline sees it: while :meth:`keeping`, each batch's encoder output
    is kept by its features' digest and handed back (once) when the same features are encoded again."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._kept: dict[tuple[tuple[int, ...], bytes], Any] | None = None
        self.reused = 0  # batches whose encoder output was reused (the tests read it)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def encode(self, features: Any) -> Any:
        """``WhisperModel.encode``, or the output kept for the same features."""
        if self._kept is None:
            return self._model.encode(features)
        array = np.ascontiguousarray(features)
        key = (array.shape, hashlib.blake2b(memoryview(array).cast("B"), digest_size=16).digest())
        output = self._kept.pop(key, None)
        if output is not None:
            self.reused += 1
            return output
        output = self._model.encode(features)
        self._kept[key] = output
        return output

    @contextmanager
    def keeping(self) -> Iterator[None]:
        """Keep encoder outputs within this block (each is a batch × 1500 × d_model array: 6 MB for base's CPU
        batch of 2, 24 MB for a batch of 8); all are dropped on leaving."""
        self._kept = {}
        try:
            yield
        finally:
            self._kept = None


@dataclass(frozen=True)
class Replica:
    """What one transcription at a time decodes with: the shared model and a batched pipeline of its own."""

    model: Any  # faster_whisper.WhisperModel (thread-safe with num_workers replicas)
    batched: Any  # faster_whisper.BatchedInferencePipeline over this replica's EncoderMemo (never shared)

    @contextmanager
    def reusing_encoder(self) -> Iterator[None]:
        """Decodes of the same channel within this block share their encoder outputs (see the module doc)."""
        with self.batched.model.keeping():
            yield


@dataclass
class LoadedModel:
    """A loaded model and its replicas, each used by one transcription at a time."""

    model: Any  # faster_whisper.WhisperModel
    path: Path
    device: str
    compute_type: str
    replicas: int
    threads: int
    _free: queue.SimpleQueue = field(default_factory=queue.SimpleQueue, repr=False)

    @contextmanager
    def replica(self) -> Iterator[Replica]:
        """A free replica for one decode (waiting while every one is in use), given back on leaving."""
        taken = self._free.get()
        try:
            yield taken
        finally:
            self._free.put(taken)


_MODELS: dict[tuple[str, str, str, int, int], LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def load_model(options: TranscriptionOptions, replicas: int = 1) -> LoadedModel:
    """Load (once per process and setting) the Whisper model the options point at, with ``replicas`` replicas of
    ``options.resolved_threads()`` threads each."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = resolve_model(options.model)
    device = options.resolved_device()
    compute_type = options.resolved_compute_type(device)
    threads = options.resolved_threads()
    replicas = max(1, replicas)
    key = (str(path.resolve()), device, compute_type, threads, replicas)
    with _MODELS_LOCK:
        loaded = _MODELS.get(key)
        if loaded is None:
            tune_allocator()  # before the first decode: reuse the heap, whatever the environment said
            from faster_whisper import BatchedInferencePipeline, WhisperModel

            try:
                model = WhisperModel(
                    str(path),
                    device=device,
                    compute_type=compute_type,
                    cpu_threads=threads,
                    num_workers=replicas,
                    local_files_only=True,
                )
            except (RuntimeError, ValueError, OSError) as exc:  # a damaged model.bin, a missing tokenizer…
                from qa.errors import ModelError

                raise ModelError(f"{path}: the Whisper model cannot be loaded: {exc}") from exc
            loaded = LoadedModel(model, path, device, compute_type, replicas, threads)
            for _ in range(replicas):
                loaded._free.put(Replica(model, BatchedInferencePipeline(EncoderMemo(model))))
            _MODELS[key] = loaded
    return loaded


def loaded_models() -> int:
    """How many Whisper models this process has loaded (each setting once: a worker reuses its model)."""
    with _MODELS_LOCK:
        return len(_MODELS)
