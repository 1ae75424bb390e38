"""The Whisper model cache: each model loads once per process and is shared by every transcriber that uses it.

faster-whisper is imported here lazily (on the first load), so that importing the package stays cheap.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.speech.transcribe.options import TranscriptionOptions
from qa.speech.whisper_model import resolve_model


@dataclass
class _LoadedModel:
    """A loaded model, its batched pipeline, and the lock that lets one decode run on it at a time."""

    model: Any  # faster_whisper.WhisperModel
    batched: Any  # faster_whisper.BatchedInferencePipeline
    lock: threading.Lock
    path: Path
    device: str
    compute_type: str


_MODELS: dict[tuple[str, str, str, int], _LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def _load_model(options: TranscriptionOptions) -> _LoadedModel:
    """Load (once per process) the Whisper model the options point at."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = resolve_model(options.model)
    device = options.resolved_device()
    compute_type = options.resolved_compute_type(device)
    threads = options.resolved_threads()
    key = (str(path.resolve()), device, compute_type, threads)
    with _MODELS_LOCK:
        loaded = _MODELS.get(key)
        if loaded is None:
            from faster_whisper import BatchedInferencePipeline, WhisperModel

            try:
                model = WhisperModel(
                    str(path),
                    device=device,
                    compute_type=compute_type,
                    cpu_threads=threads,
                    local_files_only=True,
                )
            except (RuntimeError, ValueError, OSError) as exc:  # a damaged model.bin, a missing tokenizer…
                from qa.errors import ModelError

                raise ModelError(f"{path}: the Whisper model cannot be loaded: {exc}") from exc
            loaded = _LoadedModel(model, BatchedInferencePipeline(model), threading.Lock(), path, device, compute_type)
            _MODELS[key] = loaded
    return loaded


def loaded_models() -> int:
    """How many Whisper models this process has loaded (each setting once: a worker reuses its model)."""
    with _MODELS_LOCK:
        return len(_MODELS)
