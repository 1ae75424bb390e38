"""The fixed cost at the start of ``qa run``, paid once and in parallel.

Without ``PREFECT_API_URL``, Prefect 3 runs every flow against a temporary API server that it starts in a process of
its own on the first flow call (there is no server-less mode: each flow and task run is recorded through that API).
That start is seconds of the other process's time, during which ours only waits. :func:`warm_start` starts that
server on a thread and, meanwhile, builds what the run's first chunks would build anyway: the compiled rule set and
the lemmatiser, and the Whisper model with the run's replicas when the inbox holds audio. The flow then finds the
server up (Prefect keeps one per process) and its tasks find the rule set and the model loaded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qa.run import pipeline

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".aac", ".webm", ".al", ".ul",
                            ".s16", ".pcm", ".raw"})


@dataclass
class Started:
    """What :func:`warm_start` did, and how long each part took (seconds)."""

    timings: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def has_audio(inbox: Path) -> bool:
    """Whether any file under ``inbox`` looks like a call (by its suffix): only then is the model worth loading."""
    return any(p.suffix.lower() in AUDIO_SUFFIXES for p in inbox.rglob("*") if p.is_file())


def _timed(started: Started, name: str, work: Callable[[], object]) -> None:
    begin = time.perf_counter()
    try:
        work()
    except Exception as exc:  # the flow meets the same problem again and reports it in its own words
        started.errors.append(f"{name}: {type(exc).__name__}: {exc}")
    started.timings[name] = time.perf_counter() - begin


def warm_start(settings: pipeline.PipelineSettings, with_model: bool, server: bool = True) -> Started:
    """Start the temporary Prefect server (``server``: unless ``PREFECT_API_URL`` names one) on a thread while this
    one compiles the rule set and (``with_model``) loads the model the run's settings will use; returns when both
    are done. Failures are left to the flow, which meets them again."""
    started = Started()
    thread = None
    if server:
        from qa.run.cluster import prefect_api_url

        thread = threading.Thread(target=_timed, args=(started, "prefect_server", prefect_api_url), daemon=True)
        thread.start()
    _timed(started, "rules", lambda: pipeline.get_scorer(settings.rules_dir))
    if with_model:
        _timed(started, "model", lambda: pipeline.load_model(settings))
    if thread is not None:
        begin = time.perf_counter()
        thread.join()
        started.timings["waited_for_server"] = time.perf_counter() - begin
    return started
