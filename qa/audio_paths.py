"""Where a stored call's audio is: paths are stored absolute (resolved at discovery); older relative ones are read
against the configured audio root (``audio_root`` in qa.toml, ``--audio-root``, ``QA_AUDIO_ROOT``)."""

from __future__ import annotations

import os
from pathlib import Path


def audio_root(given: str | Path | None = None) -> Path:
    """The folder relative call paths are resolved against: ``given``, else ``QA_AUDIO_ROOT``, else the cwd."""
    chosen = given or os.environ.get("QA_AUDIO_ROOT")
    return Path(chosen) if chosen else Path.cwd()


def resolve_audio(source_path: str, root: str | Path | None = None) -> Path:
    """The call's audio file: ``source_path`` when absolute, else under :func:`audio_root`."""
    path = Path(source_path)
    return path if path.is_absolute() else audio_root(root) / path


def audio_problem(source_path: str | None, root: str | Path | None = None) -> str | None:
    """Why a call's audio cannot be played (for a message on the page or a warning in an export); ``None`` if it
    can. Purged conversations have an empty path."""
    if not source_path:
        return "the audio was removed by the retention purge"
    path = resolve_audio(source_path, root)
    if not path.is_file():
        return f"{path}: audio file not found (set audio_root in qa.toml or --audio-root)"
    return None
