"""Finding the conversations in an inbox folder, and naming everything found that is not one.

- a call is an audio file, with an optional sidecar ``<name>.json`` beside it;
- a chat is ``<name>.chat.json``; a transcript from another ASR is ``<name>.transcript.json``;
- anything else is an ``unknown`` item (recorded as a failure), except README files and dot-files.

Nothing is skipped without a word (:class:`InboxScan`): symlinked folders are read once (a link that leads back
into a folder already read is a loop and is named), broken links, named pipes, sockets and devices are named,
a file the process may not read is reported with the reason, and a file changed within the settle period (still
being copied) is left for the next run.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from qa.errors import UnknownInputError

AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".webm", ".al", ".alaw", ".ul", ".mulaw",
     ".s16", ".pcm", ".raw"}
)
CHAT_SUFFIX = ".chat.json"
TRANSCRIPT_SUFFIX = ".transcript.json"
_IGNORED_NAMES = ("readme",)
SETTLE_ENV = "QA_SETTLE_S"
DEFAULT_SETTLE_S = 10.0  # a file changed this recently may still be being copied: left for the next run
_SPECIAL = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
            (stat.S_ISBLK, "a block device"))


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What is known about a call: from its sidecar, or (for a PBX source) from its sidecar, call log, file name
    and the operator directory, in that order of precedence (all optional). ``sources`` says where each field came
    from (``sidecar``, ``call_log``, ``file_name``, ``directory``), by field name (``id`` for the conversation id)."""

    conversation_id: str
    operator_id: str | None = None
    team: str | None = None
    started_at: datetime | None = None
    channels: dict[str, str] | None = None
    raw_format: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # what the reader noticed (a time read in the configured zone, …)


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One conversation found in the inbox (``kind`` = call | chat | transcript | unknown). A call from a PBX source
    carries what its call log, file name and directory say (``call``) and, when it was recorded as split legs,
    every leg file in channel order (``legs``; ``path`` is the first)."""

    path: str
    kind: str
    content_sha256: str
    sidecar: str | None = None
    legs: tuple[str, ...] = ()
    call: CallInfo | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A path of the inbox that is not processed in this run, and why (in words, for the run summary)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class InboxScan:
    """What :func:`scan_inbox` found: the items, the files it could not read (each recorded as a failure), the
    paths it skipped (named in the run summary) and the files still changing (left for the next run)."""

    items: list[InboxItem] = field(default_factory=list)
    unreadable: list[Skipped] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    waiting: list[Skipped] = field(default_factory=list)


def settle_seconds(given: float | None = None) -> float:
    """The settle period: ``given``, else ``$QA_SETTLE_S``, else 10 s (a bad value is a ``ValueError``)."""
    value = given if given is not None else os.environ.get(SETTLE_ENV, "").strip() or DEFAULT_SETTLE_S
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"settle period must be a number of seconds, not {value!r} ({SETTLE_ENV})") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"settle period must be a finite number of seconds ≥ 0, not {value!r}")
    return seconds


def kind_of(path: Path) -> str:
    """call | chat | transcript | unknown, from the file name."""
    name = path.name.lower()
    if name.endswith(CHAT_SUFFIX):
        return "chat"
    if name.endswith(TRANSCRIPT_SUFFIX):
        return "transcript"
    if path.suffix.lower() in AUDIO_SUFFIXES:
        return "call"
    return "unknown"


def content_hash(*paths: Path) -> str:
    """The sha256 of the files' bytes one after another (a call's audio, its legs, its sidecar)."""
    digest = hashlib.sha256()
    for p in paths:
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.lower().startswith(_IGNORED_NAMES)


def _why_not_a_file(path: Path) -> str:
    """Why ``os.stat`` of a directory entry failed or found no regular file, in words."""
    try:
        info = path.stat()
    except OSError as exc:
        if path.is_symlink():
            target = os.readlink(path)
            if exc.errno == 40:  # ELOOP
                return f"symbolic link loop ({target}): skipped"
            return f"broken symbolic link to {target}: skipped"
        return f"cannot be read: {exc.strerror or exc}"
    for test, what in _SPECIAL:
        if test(info.st_mode):
            return f"{what}, not a regular file: skipped"
    return "not a regular file: skipped"


def _walk(folder: Path, scan: InboxScan) -> list[Path]:
    """Every regular file under ``folder`` (symlinked folders followed once), dot-files and README files left out;
    what cannot be walked or is no regular file goes to ``scan``."""
    files: list[Path] = []
    seen: dict[tuple[int, int], Path] = {}  # every folder walked, by device and inode: a link to one is not followed

    def unreadable_folder(exc: OSError) -> None:
        scan.unreadable.append(Skipped(str(exc.filename or folder), f"folder cannot be read: {exc.strerror or exc}"))

    info = folder.stat()
    seen[(info.st_dev, info.st_ino)] = folder
    for root, dirs, names in os.walk(folder, followlinks=True, onerror=unreadable_folder):
        here = Path(root)
        keep = []
        for name in sorted(dirs, key=lambda n: ((here / n).is_symlink(), n)):  # real folders before links
            if name.startswith("."):
                continue
            sub = here / name
            try:
                key = (sub.stat().st_dev, sub.stat().st_ino)
            except OSError:
                scan.skipped.append(Skipped(str(sub), _why_not_a_file(sub)))
                continue
            first = seen.get(key)
            if first is None and sub.is_symlink() and folder.is_relative_to(sub.resolve()):
                scan.skipped.append(Skipped(str(sub), f"symbolic link loop: leads to {sub.resolve()}, a folder that "
                                                      "holds the inbox: skipped"))
                continue
            if first is not None:
                if here.is_relative_to(first):  # the link leads back to a folder it is in
                    reason = f"symbolic link loop back to {first}: skipped"
                else:
                    reason = f"the same folder as {first} (a symbolic link), read there: skipped"
                scan.skipped.append(Skipped(str(sub), reason))
                continue
            seen[key] = sub
            keep.append(name)
        dirs[:] = keep
        for name in sorted(names):
            if _ignored(name):
                continue
            path = here / name
            try:
                regular = stat.S_ISREG(path.stat().st_mode)
            except OSError:
                regular = False
            if regular:
                files.append(path)
            else:
                reason = _why_not_a_file(path)
                target = scan.unreadable if reason.startswith("cannot be read") else scan.skipped
                target.append(Skipped(str(path), reason))
    return sorted(files)


def _changed_within(paths: list[Path], settle_s: float, now: float) -> float | None:
    """Seconds since the latest change of any of ``paths`` when that is within ``settle_s``, else None."""
    if settle_s <= 0:
        return None
    latest = max(p.stat().st_mtime for p in paths)  # a file moved in keeps its time; one being written does not
    age = now - latest
    return max(age, 0.0) if age < settle_s else None


def inbox_files(folder: Path) -> list[Path]:
    """Every regular file under ``folder`` (recursively, symlinked folders once) but dot-files, files in dot-folders
    and README files, sorted (what :func:`scan_inbox` would name as skipped is left out without a word)."""
    return _walk(Path(folder), InboxScan())


def scan_inbox(folder: str | Path, settle_s: float = 0.0, now: float | None = None,
               exclude: tuple[Path, ...] = ()) -> InboxScan:
    """Every conversation file under ``folder`` (recursively), sidecars attached to their calls, and every path
    that is skipped, with the reason. Files changed less than ``settle_s`` seconds before ``now`` wait; files under
    ``exclude`` (resolved paths: a PBX source's folder, call log and directory inside the inbox) are left out."""
    folder = Path(folder).resolve()  # one spelling per file: absolute, links and ../ resolved
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: inbox folder not found")
    scan = InboxScan()
    files = [p for p in _walk(folder, scan) if not any(p == x or x in p.parents for x in exclude)]
    calls = {(p.parent, p.stem) for p in files if kind_of(p) == "call"}
    now = time.time() if now is None else now
    for p in files:
        kind = kind_of(p)
        if kind == "unknown" and p.suffix.lower() == ".json" and (p.parent, p.stem) in calls:
            continue  # a sidecar, attached to its call
        sidecar = p.with_suffix(".json") if kind == "call" and p.with_suffix(".json") in files else None
        try:
            age = _changed_within([p, *([sidecar] if sidecar else [])], settle_s, now)
            if age is not None:
                scan.waiting.append(Skipped(str(p), f"changed {age:.0f} s ago (settle period {settle_s:g} s): "
                                                    "still being copied? left for the next run"))
                continue
            scan.items.append(_item(p, kind, sidecar))
        except OSError as exc:
            which = f"sidecar {exc.filename} " if sidecar and exc.filename == str(sidecar) else ""
            scan.unreadable.append(Skipped(str(p), f"{which}cannot be read: {exc.strerror or exc}"))
    return scan


def discover_inbox(folder: str | Path, exclude: tuple[Path, ...] = ()) -> list[InboxItem]:
    """Every conversation file under ``folder`` (recursively), sidecars attached to their calls (no settle period;
    what :func:`scan_inbox` skips or cannot read is left out; files under ``exclude`` too)."""
    return scan_inbox(folder, exclude=exclude).items


def _item(path: Path, kind: str, sidecar: Path | None = None) -> InboxItem:
    """An inbox item; a call's hash covers its sidecar too, so a corrected sidecar is processed again."""
    if kind != "call":
        return InboxItem(str(path), kind, content_hash(path))
    return InboxItem(str(path), kind, content_hash(path, *([sidecar] if sidecar else [])),
                     str(sidecar) if sidecar else None)


def discover_file(path: str | Path) -> InboxItem:
    """One file as an inbox item (its sidecar attached when it is a call)."""
    path = Path(path)
    if not path.is_file():
        raise UnknownInputError(path, "file not found")
    kind = kind_of(path)
    side = path.with_suffix(".json")
    try:
        return _item(path, kind, side if kind == "call" and side.is_file() else None)
    except OSError as exc:
        raise UnknownInputError(exc.filename or path, f"cannot be read: {exc.strerror or exc}") from exc


def unknown_input_error(item: InboxItem) -> UnknownInputError:
    """The error recorded for a file of a type the pipeline does not handle."""
    path = Path(item.path)
    if path.suffix.lower() == ".json":
        return UnknownInputError(
            path, f"JSON file is neither a sidecar (no call named {path.stem}.*), a *{CHAT_SUFFIX} "
                  f"nor a *{TRANSCRIPT_SUFFIX}")
    return UnknownInputError(path, f"unknown input type {path.suffix or '(no extension)'!r}; expected audio "
                                   f"({', '.join(sorted(AUDIO_SUFFIXES))}), *{CHAT_SUFFIX} or *{TRANSCRIPT_SUFFIX}")
