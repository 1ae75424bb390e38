"""Where a stored call's audio is: paths are stored absolute (resolved at discovery); older relative ones are read
against the configured audio root (``audio_root`` in qa.toml, ``--audio-root``, ``QA_AUDIO_ROOT``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


def audio_root(given: str | Path | None = None) -> Path:
    """The folder relative call paths are resolved against: ``given``, else ``QA_AUDIO_ROOT``, else the cwd."""
    chosen = given or os.environ.get("QA_AUDIO_ROOT")
    return Path(chosen) if chosen else Path.cwd()


def resolve_audio(source_path: str, root: str | Path | None = None) -> Path:
    """The call's audio file: ``source_path`` when absolute, else under :func:`audio_root`."""
    path = Path(source_path)
    return path if path.is_absolute() else audio_root(root) / path


@dataclass(frozen=True)
class AudioProblem:
    """Why a call's audio cannot be played or cut: ``purged`` (the retention purge removed its path) or
    ``missing`` (no file at ``path``). ``str()`` is the message for the CLI and the export; the page words it
    in Russian by ``kind``."""

    kind: Literal["purged", "missing"]
    path: Path | None = None

    def __str__(self) -> str:
        if self.kind == "purged":
            return "the audio was removed by the retention purge"
        return f"{self.path}: audio file not found (set audio_root in qa.toml or --audio-root)"


def audio_problem(source_path: str | None, root: str | Path | None = None) -> AudioProblem | None:
    """Why a call's audio cannot be played (for a message on the page or a warning in an export); ``None`` if it
    can. Purged conversations have an empty path."""
    if not source_path:
        return AudioProblem("purged")
    path = resolve_audio(source_path, root)
    if not path.is_file():
        return AudioProblem("missing", path)
    return None
