"""Errors for bad input: each names the file and the problem, so a batch can record it and go on."""

from __future__ import annotations

from pathlib import Path


class QAInputError(Exception):
    """An input file that cannot be processed. ``str()`` reads ``PATH: PROBLEM``."""

    stage = "input"

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class AudioError(QAInputError):
    """Audio that cannot be decoded or holds nothing to transcribe (corrupt, empty, zero length)."""

    stage = "decode"


class ConversationFormatError(QAInputError):
    """A chat, transcript or sidecar file that is not valid JSON or lacks required fields."""

    stage = "parse"


class UnreadableInputError(QAInputError):
    """A file the process may not read (permissions, a vanished file): not the content's fault, so the next run
    tries it again."""

    stage = "read"


class UnknownInputError(QAInputError):
    """A file in the inbox of a type the pipeline does not handle."""

    stage = "discover"


class RuleFileError(QAInputError):
    """A rule file that is broken. ``line`` and ``field`` say where, when known."""

    stage = "rules"

    def __init__(self, path: str | Path, problem: str, line: int | None = None, field: str | None = None):
        self.line = line
        self.field = field
        where = f"{path}:{line}" if line else str(path)
        what = f"{field}: {problem}" if field else problem
        super().__init__(where, what)
        self.path = str(path)


class ModelError(Exception):
    """The Whisper model setting points at nothing usable (or at a name that would need a download)."""


class SourceError(QAInputError):
    """A PBX source's call log or operator directory that cannot be read (missing, undecodable, columns absent):
    the source is not read this run, so no call is stored without the metadata its files promise."""

    stage = "source"
