"""Where a conversation's fields came from, as the conversation page shows it: each field the sidecar, the PBX's
call log, the recording's file name or the operator directory gave, with its value; the transfers and the linked
recordings of a call (README, «Connect your PBX»)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from qa.review import labels

# the order fields are listed in; any other recorded field follows
ORDER = ("id", "operator_id", "operator_name", "team", "line", "queue", "started_at", "direction", "channels",
         "extension", "src", "dst", "did", "uniqueid", "linkedid", "disposition", "billsec", "recordingfile")
_TOP = {"id": "conversation_id", "operator_id": "operator_id", "team": "team", "started_at": "started_at"}


def _value(c: dict[str, Any], key: str) -> Any:
    meta = c.get("metadata") or {}
    if key in _TOP:
        return c.get(_TOP[key])
    if key == "direction":
        return labels.direction(meta.get(key))
    if key == "channels":
        channels = meta.get("channels") or (c.get("transcription") or {}).get("channels")
        return ", ".join(f"{labels.channel_name(k)}: {labels.speaker(v).lower()}" for k, v in channels.items()) \
            if isinstance(channels, dict) else None
    return meta.get(key)


def field_rows(c: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{field, label, value, source, source_label}]`` for every field with a recorded source (none for
    conversations stored before sources were recorded, or read without any)."""
    sources = (c.get("metadata") or {}).get("field_sources") or {}
    keys = [k for k in ORDER if k in sources] + sorted(k for k in sources if k not in ORDER)
    return [{"field": k, "label": labels.field_name(k), "value": _value(c, k), "source": sources[k],
             "source_label": labels.field_source(sources[k])} for k in keys]


def related(c: dict[str, Any]) -> dict[str, Any]:
    """The call's transfers (later answering operators of the same recording) and linked conversations (other
    recordings of the same PBX call, by ``linkedid``)."""
    meta = c.get("metadata") or {}
    transfers = []
    for t in meta.get("transfers") or ():
        at = t.get("at")
        try:
            at = datetime.fromisoformat(at) if isinstance(at, str) else None
        except ValueError:
            at = None
        transfers.append({**t, "at": at})
    return {"transfers": transfers, "linked": list(meta.get("linked") or ())}
