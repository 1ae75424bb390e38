"""The inbox's JSON formats: a call's sidecar, a chat log and a transcript from another ASR, each read into records
with every problem a :class:`~qa.errors.ConversationFormatError` naming the file and the field.

Finding the files is :mod:`qa.inbox.discovery` (its names are importable from here too). What a reader notices
without refusing the file (a time without a zone, a key that looks like a typo) goes to the record's ``warnings``,
which the run summary and the conversation page show.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from qa.errors import ConversationFormatError
from qa.inbox.discovery import (
    AUDIO_SUFFIXES,
    CHAT_SUFFIX,
    TRANSCRIPT_SUFFIX,
    CallInfo,
    InboxItem,
    InboxScan,
    Skipped,
    content_hash,
    discover_file,
    discover_inbox,
    inbox_files,
    scan_inbox,
    unknown_input_error,
)
from qa.inbox.fields import (
    MAX_CALL_S,
    SIDECAR_MAX_BYTES,
    check_metadata,
    conversation_id,
    read_json,
    seconds,
    text_field,
    timestamp,
)
from qa.records import Conversation, Utterance, Word

__all__ = [
    "AUDIO_SUFFIXES", "CHAT_SUFFIX", "DEFAULT_CHANNELS", "SCRIPT_FIELDS", "SPEAKER_NAMES", "TRANSCRIPT_SUFFIX",
    "CallInfo", "InboxItem", "InboxScan", "Skipped", "call_info", "content_hash", "discover_file", "discover_inbox",
    "inbox_files", "read_chat", "read_sidecar", "read_transcript", "scan_inbox", "unknown_input_error",
]

DEFAULT_CHANNELS = {"left": "operator", "right": "client"}
SPEAKER_NAMES = frozenset({"operator", "client", "bot", "unknown"})
CHANNEL_NAMES = ("left", "right", "mono")  # or a channel number: 0, 1, …
_SIDECAR_KEYS = ("id", "operator_id", "team", "started_at", "direction", "channels", "raw_format")


SCRIPT_FIELDS = ("company", "operator_name")  # read by the script checks (docs/rules.md «Бренды», «Имена»)
_ROUTING_FIELDS = ("line", "queue")  # pick a brand when the team does not (docs/rules.md «Бренды»)


def _script_fields(path: Path, data: dict[str, Any]) -> None:
    """``company``, ``operator_name``, ``line`` and ``queue`` must be strings when given."""
    for key in (*SCRIPT_FIELDS, *_ROUTING_FIELDS):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ConversationFormatError(path, f"field {key!r} must be a string, not {type(value).__name__}")


def _metadata(data: dict[str, Any], known: tuple[str, ...], path: Path, warnings: list[str]) -> dict[str, Any]:
    """The keys beyond ``known``, kept as metadata when small enough (:func:`~qa.inbox.fields.check_metadata`); one
    that looks like a typo of a known key gets a warning."""
    from qa.fuzzy import nearest_name

    extra = {k: v for k, v in data.items() if k not in known}
    understood = (*known, *SCRIPT_FIELDS, *_ROUTING_FIELDS)
    for key in extra:
        if key in understood:
            continue
        hint = nearest_name(key, understood, cutoff=75)
        if hint and hint not in data:
            note = f"unknown key {key!r} kept as metadata; did you mean {hint!r}?"
            logging.getLogger(__name__).warning("%s: %s", path, note)
            warnings.append(note)
    return check_metadata(path, extra)


def _stem(path: Path, suffix: str = "") -> str:
    name = path.name
    return name[: -len(suffix)] if suffix and name.lower().endswith(suffix) else path.stem


def _channels(path: Path, channels: Any) -> dict[str, str] | None:
    """A sidecar's ``channels``: known channel names to speakers, no speaker (but ``unknown``) on two channels."""
    if channels is None:
        return None
    if not isinstance(channels, dict) or not channels or not all(
            isinstance(k, str) and v in SPEAKER_NAMES for k, v in channels.items()):
        raise ConversationFormatError(
            path, "field 'channels' must map channel names (left, right, mono, 0, 1…) to operator | client | unknown")
    for name in channels:
        key = name.strip().lower()
        if key not in CHANNEL_NAMES and not key.isdigit():
            raise ConversationFormatError(path, f"field 'channels': unknown channel {name!r}; use left, right, mono "
                                                "or a channel number (0, 1…)")
    for speaker in ("operator", "client"):
        named = [k for k, v in channels.items() if v == speaker]
        if len(named) > 1:
            other = "client" if speaker == "operator" else "operator"
            raise ConversationFormatError(path, f"field 'channels' maps {' and '.join(named)} all to {speaker!r}: the "
                                                f"{other}'s words would be scored as the {speaker}'s; give each "
                                                "channel its own speaker")
    return channels
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
    data = read_json(path, SIDECAR_MAX_BYTES, "sidecar")
    warnings: list[str] = []
    started = data.get("started_at")
    channels = _channels(path, data.get("channels"))
    raw = data.get("raw_format")
    if raw is not None and not isinstance(raw, dict):
        raise ConversationFormatError(path, "field 'raw_format' must be an object {codec, sample_rate, channels}")
    _script_fields(path, data)
    meta = _metadata(data, _SIDECAR_KEYS, path, warnings)
    if data.get("direction") is not None:
        meta["direction"] = data["direction"]
    given = {"id", "operator_id", "team", "started_at", "channels"} & {k for k, v in data.items() if v is not None}
    return CallInfo(
        conversation_id=conversation_id(path, data, call_path.stem),
        operator_id=text_field(path, data, "operator_id"),
        team=text_field(path, data, "team"),
        started_at=timestamp(path, started, "field 'started_at': ", warnings) if started is not None else None,
        channels=channels,
        raw_format=raw,
        metadata=meta,
        warnings=tuple(warnings),
        sources={k: "sidecar" for k in (*sorted(given), *meta)},
    )


def read_chat(item: InboxItem) -> Conversation:
    """A chat log as a conversation; message times become seconds from the first message (a time without a zone
    is read in the configured zone, with a warning)."""
    path = Path(item.path)
    data = read_json(path)
    warnings: list[str] = []
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
        text = text_field(path, msg, "text", where, required=True) or ""
        if "at" not in msg:
            raise ConversationFormatError(path, f"{where}missing field 'at'")
        parsed.append((timestamp(path, msg["at"], f"{where}at: ", warnings), role, text))
    parsed.sort(key=lambda m: m[0])
    _script_fields(path, data)
    t0 = parsed[0][0]
    utterances = []
    for at, role, text in parsed:
        offset = (at - t0).total_seconds()
        utterances.append(Utterance(speaker=role, start=offset, end=offset, text=text))
    return Conversation(
        conversation_id=conversation_id(path, data, _stem(path, CHAT_SUFFIX)),
        channel="chat",
        source_path=str(path),
        content_sha256=item.content_sha256,
        utterances=utterances,
        operator_id=text_field(path, data, "operator_id"),
        team=text_field(path, data, "team"),
        started_at=t0,
        duration_s=utterances[-1].start,
        speaker_mode="chat",
        metadata=_metadata(data, ("id", "operator_id", "team", "messages"), path, warnings),
        warnings=warnings,
    )


def _words(path: Path, turn: dict[str, Any], where: str, limit: float) -> tuple[Word, ...]:
    """A turn's optional ``words``: each an object with text, start and end (seconds) and an optional
    probability."""
    words = turn.get("words")
    if words is None:
        return ()
    if not isinstance(words, list):
        raise ConversationFormatError(path, f"{where}words must be a list of {{text, start, end}} objects")
    out = []
    for m, w in enumerate(words):
        at = f"{where}words[{m}]: "
        if not isinstance(w, dict) or not {"text", "start", "end"} <= w.keys():
            raise ConversationFormatError(path, f"{at}must be an object with text, start and end")
        start, end = seconds(path, w["start"], f"{at}start ", limit), seconds(path, w["end"], f"{at}end ", limit)
        if end < start:
            raise ConversationFormatError(path, f"{at}end {end:g} is before start {start:g}")
        probability = w.get("probability", 1.0)
        if isinstance(probability, bool) or not isinstance(probability, int | float) or not 0 <= probability <= 1:
            raise ConversationFormatError(path, f"{at}probability must be a number from 0 to 1, not {probability!r}")
        out.append(Word(str(w["text"]), start, end, float(probability)))
    return tuple(out)


def read_transcript(item: InboxItem) -> Conversation:
    """A transcript from another ASR (turns with speaker and times), scored without transcription. Times must be
    finite and within the call: its ``duration_s`` when given, else 24 hours."""
    path = Path(item.path)
    data = read_json(path)
    warnings: list[str] = []
    turns = data.get("turns")
    if not isinstance(turns, list) or not turns:
        raise ConversationFormatError(path, "field 'turns' must be a non-empty list")
    limit = MAX_CALL_S
    if data.get("duration_s") is not None:
        limit = seconds(path, data["duration_s"], "field 'duration_s': ")
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
        start = seconds(path, turn["start"], f"{where}start ", limit)
        end = seconds(path, turn["end"], f"{where}end ", limit)
        if end < start:
            raise ConversationFormatError(path, f"{where}end {end} is before start {start}")
        text = text_field(path, turn, "text", where, required=True) or ""
        utterances.append(Utterance(speaker=speaker, start=start, end=end, text=text,
                                    words=_words(path, turn, where, limit)))
    utterances.sort(key=lambda u: (u.start, u.end))
    started = data.get("started_at")
    return Conversation(
        conversation_id=conversation_id(path, data, _stem(path, TRANSCRIPT_SUFFIX)),
        channel="call",
        source_path=str(path),
        content_sha256=item.content_sha256,
        utterances=utterances,
        operator_id=text_field(path, data, "operator_id"),
        team=text_field(path, data, "team"),
        started_at=timestamp(path, started, "field 'started_at': ", warnings) if started is not None else None,
        duration_s=float(data["duration_s"]) if data.get("duration_s") is not None else max(u.end for u in utterances),
        speaker_mode="transcript",
        metadata=_metadata(data, ("id", "operator_id", "team", "turns", "started_at", "duration_s"), path, warnings),
        warnings=warnings,
    )
