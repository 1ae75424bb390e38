"""The inbox: discovering calls, chats and external transcripts, and reading their JSON formats.

- a call is an audio file, with an optional sidecar ``<name>.json`` beside it;
- a chat is ``<name>.chat.json``; a transcript from another ASR is ``<name>.transcript.json``.
Anything else in the inbox is reported as an unknown input (except README files and dot-files).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from qa.errors import ConversationFormatError, UnknownInputError
from qa.records import Conversation, Utterance, Word

AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".webm", ".al", ".alaw", ".ul", ".mulaw",
     ".s16", ".pcm", ".raw"}
)
CHAT_SUFFIX = ".chat.json"
TRANSCRIPT_SUFFIX = ".transcript.json"
DEFAULT_CHANNELS = {"left": "operator", "right": "client"}
SPEAKER_NAMES = frozenset({"operator", "client", "bot", "unknown"})
_SIDECAR_KEYS = ("id", "operator_id", "team", "started_at", "direction", "channels", "raw_format")
_IGNORED_NAMES = ("readme",)


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


def _kind_of(path: Path) -> str:
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


def inbox_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` (recursively) but dot-files, files in dot-folders and README files, sorted."""
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and not p.name.lower().startswith(_IGNORED_NAMES)
    )


def discover_inbox(folder: str | Path, exclude: tuple[Path, ...] = ()) -> list[InboxItem]:
    """Every conversation file under ``folder`` (recursively), sidecars attached to their calls; files under
    ``exclude`` (resolved paths: a PBX source's folder, call log and directory inside the inbox) left out."""
    folder = Path(folder).resolve()  # one spelling per file: absolute, links and ../ resolved
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: inbox folder not found")
    files = [p for p in inbox_files(folder) if not any(p == x or x in p.parents for x in exclude)]
    calls = {(p.parent, p.stem) for p in files if _kind_of(p) == "call"}
    items: list[InboxItem] = []
    for p in files:
        kind = _kind_of(p)
        if kind == "unknown" and p.suffix.lower() == ".json" and (p.parent, p.stem) in calls:
            continue  # a sidecar, attached below
        items.append(_item(p, kind))
    return items


def _item(path: Path, kind: str) -> InboxItem:
    """An inbox item; a call's hash covers its sidecar too, so a corrected sidecar is processed again."""
    if kind != "call":
        return InboxItem(str(path), kind, content_hash(path))
    side = path.with_suffix(".json")
    sidecar = side if side.is_file() else None
    return InboxItem(str(path), kind, content_hash(path, *([sidecar] if sidecar else [])),
                     str(sidecar) if sidecar else None)


def unknown_input_error(item: InboxItem) -> UnknownInputError:
    """The error recorded for a file of a type the pipeline does not handle."""
    path = Path(item.path)
    if path.suffix.lower() == ".json":
        return UnknownInputError(
            path, f"JSON file is neither a sidecar (no call named {path.stem}.*), a *{CHAT_SUFFIX} "
                  f"nor a *{TRANSCRIPT_SUFFIX}")
    return UnknownInputError(path, f"unknown input type {path.suffix or '(no extension)'!r}; expected audio "
                                   f"({', '.join(sorted(AUDIO_SUFFIXES))}), *{CHAT_SUFFIX} or *{TRANSCRIPT_SUFFIX}")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConversationFormatError(path, f"not UTF-8 text ({exc.reason})") from exc
    if not text.strip():
        raise ConversationFormatError(path, "empty file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise ConversationFormatError(path, problem) from exc
    if not isinstance(data, dict):
        raise ConversationFormatError(path, "expected a JSON object at the top level")
    return data


def _text_field(path: Path, data: dict[str, Any], key: str, where: str = "", required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ConversationFormatError(path, f"{where}missing field {key!r}")
        return None
    if not isinstance(value, str | int):
        raise ConversationFormatError(path, f"{where}field {key!r} must be a string")
    return str(value)


def _timestamp(path: Path, value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise ConversationFormatError(path, f"{where}must be an ISO-8601 timestamp string")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConversationFormatError(path, f"{where}{value!r} is not an ISO-8601 timestamp") from exc


def _seconds(path: Path, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConversationFormatError(path, f"{where}must be a non-negative number of seconds")
    return float(value)


SCRIPT_FIELDS = ("company", "operator_name")  # read by the script checks (docs/rules.md «Бренды», «Имена»)
_ROUTING_FIELDS = ("line", "queue")  # pick a brand when the team does not (docs/rules.md «Бренды»)


def _script_fields(path: Path, data: dict[str, Any]) -> None:
    """``company``, ``operator_name``, ``line`` and ``queue`` must be strings when given."""
    for key in (*SCRIPT_FIELDS, *_ROUTING_FIELDS):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ConversationFormatError(path, f"field {key!r} must be a string, not {type(value).__name__}")


def _metadata(data: dict[str, Any], known: tuple[str, ...], path: Path | None = None) -> dict[str, Any]:
    """The keys beyond ``known`` (kept as metadata); one that looks like a typo of a known key gets a warning."""
    from qa.fuzzy import nearest_name

    extra = {k: v for k, v in data.items() if k not in known}
    understood = (*known, *SCRIPT_FIELDS, *_ROUTING_FIELDS)
    for key in extra:
        if key in understood:
            continue
        hint = nearest_name(key, understood, cutoff=75)
        if hint and hint not in data:
            logging.getLogger(__name__).warning(
                "%s: unknown key %r kept as metadata; did you mean %r?", path or "input", key, hint)
    return extra


def _stem(path: Path, suffix: str = "") -> str:
    name = path.name
    return name[: -len(suffix)] if suffix and name.lower().endswith(suffix) else path.stem


def call_info(item: InboxItem) -> CallInfo:
    """What is known about a call item: a PBX source's resolved :class:`CallInfo` (its sidecar read again, so a
    sidecar broken since discovery fails the call), else its sidecar's."""
    sidecar = read_sidecar(item.path, item.sidecar)
    return item.call or sidecar


def read_sidecar(call_path: str | Path, sidecar: str | Path | None) -> CallInfo:
    """The call's metadata from its sidecar; without one, the id is the file name."""
    call_path = Path(call_path)
    if sidecar is None:
        return CallInfo(conversation_id=call_path.stem)
    path = Path(sidecar)
    data = _read_json(path)
    started = data.get("started_at")
    channels = data.get("channels")
    if channels is not None:
        if not isinstance(channels, dict) or not all(
            isinstance(k, str) and v in SPEAKER_NAMES for k, v in channels.items()
        ):
            raise ConversationFormatError(
                path, "field 'channels' must map channel names (left, right, mono, 0, 1…) to "
                      "operator | client | unknown")
    raw = data.get("raw_format")
    if raw is not None and not isinstance(raw, dict):
        raise ConversationFormatError(path, "field 'raw_format' must be an object {codec, sample_rate, channels}")
    _script_fields(path, data)
    meta = _metadata(data, _SIDECAR_KEYS, path)
    if data.get("direction") is not None:
        meta["direction"] = data["direction"]
    given = {"id", "operator_id", "team", "started_at", "channels"} & {k for k, v in data.items() if v is not None}
    return CallInfo(
        conversation_id=_text_field(path, data, "id") or call_path.stem,
        operator_id=_text_field(path, data, "operator_id"),
        team=_text_field(path, data, "team"),
        started_at=_timestamp(path, started, "field 'started_at': ") if started is not None else None,
        channels=channels,
        raw_format=raw,
        metadata=meta,
        sources={k: "sidecar" for k in (*sorted(given), *meta)},
    )


def read_chat(item: InboxItem) -> Conversation:
    """A chat log as a conversation; message times become seconds from the first message."""
    path = Path(item.path)
    data = _read_json(path)
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ConversationFormatError(path, "field 'messages' must be a non-empty list")
    parsed: list[tuple[datetime, str, str]] = []
    for n, msg in enumerate(messages):
        where = f"messages[{n}]: "
        if not isinstance(msg, dict):
            raise ConversationFormatError(path, f"{where}must be an object with at, role, text")
        role = msg.get("role")
        if role not in ("client", "operator", "bot"):
            raise ConversationFormatError(path, f"{where}role must be client, operator or bot, not {role!r}")
        text = _text_field(path, msg, "text", where, required=True) or ""
        if "at" not in msg:
            raise ConversationFormatError(path, f"{where}missing field 'at'")
        parsed.append((_timestamp(path, msg["at"], f"{where}at: "), role, text))
    try:
        parsed.sort(key=lambda m: m[0])
    except TypeError as exc:
        raise ConversationFormatError(path, "messages mix timestamps with and without a time zone") from exc
    _script_fields(path, data)
    t0 = parsed[0][0]
    utterances = []
    for at, role, text in parsed:
        offset = (at - t0).total_seconds()
        utterances.append(Utterance(speaker=role, start=offset, end=offset, text=text))
    return Conversation(
        conversation_id=_text_field(path, data, "id") or _stem(path, CHAT_SUFFIX),
        channel="chat",
        source_path=str(path),
        content_sha256=item.content_sha256,
        utterances=utterances,
        operator_id=_text_field(path, data, "operator_id"),
        team=_text_field(path, data, "team"),
        started_at=t0,
        duration_s=utterances[-1].start,
        speaker_mode="chat",
        metadata=_metadata(data, ("id", "operator_id", "team", "messages"), path),
    )


def read_transcript(item: InboxItem) -> Conversation:
    """A transcript from another ASR (turns with speaker and times), scored without transcription."""
    path = Path(item.path)
    data = _read_json(path)
    turns = data.get("turns")
    if not isinstance(turns, list) or not turns:
        raise ConversationFormatError(path, "field 'turns' must be a non-empty list")
    utterances: list[Utterance] = []
    for n, turn in enumerate(turns):
        where = f"turns[{n}]: "
        if not isinstance(turn, dict):
            raise ConversationFormatError(path, f"{where}must be an object with speaker, start, end, text")
        speaker = turn.get("speaker")
        if speaker not in ("operator", "client", "unknown"):
            raise ConversationFormatError(path, f"{where}speaker must be operator, client or unknown, not {speaker!r}")
        for key in ("start", "end"):
            if key not in turn:
                raise ConversationFormatError(path, f"{where}missing field {key!r}")
        start = _seconds(path, turn["start"], f"{where}start ")
        end = _seconds(path, turn["end"], f"{where}end ")
        if end < start:
            raise ConversationFormatError(path, f"{where}end {end} is before start {start}")
        text = _text_field(path, turn, "text", where, required=True) or ""
        words = tuple(
            Word(str(w["text"]), float(w["start"]), float(w["end"]), float(w.get("probability", 1.0)))
            for w in turn.get("words") or ()
            if isinstance(w, dict) and {"text", "start", "end"} <= w.keys()
        )
        utterances.append(Utterance(speaker=speaker, start=start, end=end, text=text, words=words))
    utterances.sort(key=lambda u: (u.start, u.end))
    started = data.get("started_at")
    return Conversation(
        conversation_id=_text_field(path, data, "id") or _stem(path, TRANSCRIPT_SUFFIX),
        channel="call",
        source_path=str(path),
        content_sha256=item.content_sha256,
        utterances=utterances,
        operator_id=_text_field(path, data, "operator_id"),
        team=_text_field(path, data, "team"),
        started_at=_timestamp(path, started, "field 'started_at': ") if started is not None else None,
        duration_s=max(u.end for u in utterances),
        speaker_mode="transcript",
        metadata=_metadata(data, ("id", "operator_id", "team", "turns", "started_at"), path),
    )


def discover_file(path: str | Path) -> InboxItem:
    """One file as an inbox item (its sidecar attached when it is a call)."""
    path = Path(path)
    if not path.is_file():
        raise UnknownInputError(path, "file not found")
    return _item(path, _kind_of(path))
