"""Reading the inbox's JSON files field by field, each problem a :class:`ConversationFormatError` naming the file,
the place and what is wrong: file size and nesting limits, text fields, ids, time stamps (a time without a zone is
read in the configured one, with a warning), seconds (finite, within a call's length) and the metadata kept."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from qa.errors import ConversationFormatError, UnreadableInputError

SIDECAR_MAX_BYTES = 1 << 20  # a sidecar is a handful of fields: 1 MiB is far beyond any real one
CONVERSATION_MAX_BYTES = 64 << 20  # a chat or transcript file (a 3-hour transcript with word times is ~10 MiB)
METADATA_MAX_BYTES = 64 << 10  # what is kept of a file's extra keys, as JSON
MAX_NESTING = 32  # levels of lists/objects in kept metadata
MAX_CALL_S = 24 * 3600.0  # no call or chat lasts longer: a time past it is a broken file, not a long call
MAX_ID_CHARS = 200


def read_json(path: Path, limit: int = CONVERSATION_MAX_BYTES, what: str = "file") -> dict[str, Any]:
    """The JSON object in ``path``: at most ``limit`` bytes, UTF-8, nested no deeper than Python's parser allows."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise ConversationFormatError(path, f"{_size(size)} is too large for a {what} (at most {_size(limit)})")
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (Windows exports) is no part of the JSON
    except UnicodeDecodeError as exc:
        raise ConversationFormatError(path, f"not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise UnreadableInputError(path, f"cannot be read: {exc.strerror or exc}") from exc
    if not text.strip():
        raise ConversationFormatError(path, "empty file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise ConversationFormatError(path, problem) from exc
    except RecursionError as exc:
        raise ConversationFormatError(path, "JSON nested too deeply to read (lists or objects inside one another "
                                            "hundreds of levels deep)") from exc
    if not isinstance(data, dict):
        raise ConversationFormatError(path, "expected a JSON object at the top level")
    return data


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n / 1024:.0f} KiB"


def text_field(path: Path, data: dict[str, Any], key: str, where: str = "", required: bool = False) -> str | None:
    """A string (or integer) field as text; ``None`` when absent and not required."""
    value = data.get(key)
    if value is None:
        if required:
            raise ConversationFormatError(path, f"{where}missing field {key!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConversationFormatError(path, f"{where}field {key!r} must be a string")
    return str(value)


def conversation_id(path: Path, data: dict[str, Any], fallback: str) -> str:
    """The ``id`` field (else ``fallback``, the file name): non-empty, at most 200 characters, printable."""
    value = text_field(path, data, "id")
    if value is None:
        return fallback
    if not value.strip():
        raise ConversationFormatError(path, "field 'id' is empty")
    if len(value) > MAX_ID_CHARS:
        raise ConversationFormatError(path, f"field 'id' is {len(value)} characters long (at most {MAX_ID_CHARS})")
    if not value.isprintable():
        raise ConversationFormatError(path, f"field 'id' holds control characters: {value!r}")
    return value


def timestamp(path: Path, value: Any, where: str, warnings: list[str] | None = None) -> datetime:
    """An ISO-8601 time; one without a zone is read in the configured zone (``timezone`` in qa.toml, default
    Europe/Moscow), noted once in ``warnings``."""
    if not isinstance(value, str):
        raise ConversationFormatError(path, f"{where}must be an ISO-8601 timestamp string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConversationFormatError(path, f"{where}{value!r} is not an ISO-8601 timestamp") from exc
    if moment.utcoffset() is not None:
        return moment
    from zoneinfo import ZoneInfo

    from qa.config import configured_timezone

    zone = configured_timezone()
    if warnings is not None:
        note = f"times without a time zone read as {zone} time (the configured zone)"
        if note not in warnings:
            warnings.append(note)
    return moment.replace(tzinfo=ZoneInfo(zone))


def seconds(path: Path, value: Any, where: str, limit: float = MAX_CALL_S) -> float:
    """A time in seconds from the start: a finite number, not negative, not past ``limit``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ConversationFormatError(path, f"{where}must be a non-negative number of seconds, not {value!r}")
    if value > limit:
        end = f"the call's duration_s ({limit:g} s)" if limit < MAX_CALL_S else "24 hours, longer than any call"
        raise ConversationFormatError(path, f"{where}{value:g} s is past {end}")
    return float(value)


def depth(value: Any, limit: int = MAX_NESTING) -> int:
    """How deeply lists and objects nest in ``value`` (counted without recursion, up to ``limit + 1``)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            level += 1
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            stack.extend((child, level) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def check_metadata(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` when it is small enough to keep with the conversation (64 KiB of JSON, 32 levels deep)."""
    if depth(meta) > MAX_NESTING:
        raise ConversationFormatError(path, f"extra keys (kept as metadata) nest more than {MAX_NESTING} levels deep")
    size = len(json.dumps(meta, ensure_ascii=False, default=str).encode("utf-8"))
    if size > METADATA_MAX_BYTES:
        biggest = max(meta, key=lambda k: len(json.dumps(meta[k], ensure_ascii=False, default=str)))
        raise ConversationFormatError(path, f"extra keys (kept as metadata) take {_size(size)} of JSON, at most "
                                            f"{_size(METADATA_MAX_BYTES)} is kept (the largest: {biggest!r}); keep "
                                            "recordings' data in the PBX's call log, not in the file")
    return meta
