"""One call of a PBX source put together: its operator found, its channels given roles, every field taken from the
best place that has it, and where each came from recorded.

Precedence, highest first: the **sidecar** (a person wrote it), the **call log** (the PBX's record of the call),
the **file name** (what the PBX wrote when recording started), the **operator directory** (what HR says of the
operator found). The operator is found in this order: an operator id or extension the sidecar, the call log or the
file name names; else the side of the call whose number is in the directory (the callee first for inbound calls,
the caller first for outbound ones); else, with no directory hit, the side the direction says (an outbound call's
caller, an inbound call's callee) when its number is an extension (a channel's, or at most 6 characters: longer
ones are phone numbers or DIDs, not operators).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qa.inbox.calllog import CallRow
from qa.inbox.directory import Directory, Operator
from qa.inbox.inputs import CallInfo

LAYERS = ("sidecar", "call_log", "file_name", "directory")
_EXTENSION_MAX = 6
# CallInfo's own fields; every other resolved field goes into its metadata
_TOP_FIELDS = ("id", "operator_id", "team", "started_at", "channels")
# the metadata a source call keeps (besides the sidecar's own keys)
PBX_FIELDS = ("direction", "src", "dst", "did", "extension", "operator_name", "line", "queue", "uniqueid",
              "linkedid", "disposition", "billsec", "recordingfile")


@dataclass
class Sides:
    """The numbers on each side of a call: ``caller`` and ``callee`` lists of (number, layer, from a channel)."""

    caller: list[tuple[str, str, bool]] = field(default_factory=list)
    callee: list[tuple[str, str, bool]] = field(default_factory=list)


@dataclass
class OperatorFound:
    """Who the operator is and how that was found."""

    side: str | None = None  # caller | callee | None (not told)
    extension: str | None = None
    extension_layer: str | None = None
    entry: Operator | None = None  # their directory row
    how: str | None = None  # the layer that decided the side (directory, or the direction's layer)
    unknown_key: str | None = None  # an extension or login named but not in the directory


def row_layer(row: CallRow | None) -> dict[str, Any]:
    """A call-log row's fields as a layer (``id`` is its uniqueid)."""
    if row is None:
        return {}
    return {"id": row.uniqueid, "started_at": row.start, "direction": row.direction, "src": row.src, "dst": row.dst,
            "did": row.did, "extension": row.extension, "operator_id": row.operator_id,
            "operator_name": row.operator_name, "team": row.team, "line": row.line, "queue": row.queue,
            "uniqueid": row.uniqueid, "linkedid": row.linkedid, "disposition": row.disposition,
            "billsec": row.billsec, "recordingfile": row.recordingfile}


def sidecar_layer(info: CallInfo | None) -> dict[str, Any]:
    """What a sidecar said (only the fields it gave)."""
    if info is None:
        return {}
    values = {"id": info.conversation_id, "operator_id": info.operator_id, "team": info.team,
              "started_at": info.started_at, "channels": info.channels, **info.metadata}
    return {k: v for k, v in values.items() if k in info.sources}


def sides(row: CallRow | None, name_fields: dict[str, Any]) -> Sides:
    """Each side's numbers, best first: the channel's extension, then the log's number, then the file name's."""
    out = Sides()
    if row is not None:
        for number, side, channel in ((row.channel_ext, out.caller, True), (row.src, out.caller, False),
                                      (row.dstchannel_ext, out.callee, True), (row.dst, out.callee, False)):
            if number:
                side.append((number, "call_log", channel))
    for key, side in (("src", out.caller), ("dst", out.callee)):
        if name_fields.get(key):
            side.append((name_fields[key], "file_name", False))
    return out


def find_operator(layers: dict[str, dict[str, Any]], parties: Sides, directory: Directory | None,
                  direction: tuple[str | None, str | None]) -> OperatorFound:
    """The operator of a call (see the module's docstring for the order). ``direction``: (value, its layer)."""
    directory = directory or Directory()
    for layer in ("sidecar", "call_log", "file_name"):
        values = layers.get(layer, {})
        if values.get("operator_id"):
            entry = directory.by_id(values["operator_id"])
            key = values.get("extension") or (entry.extension if entry else None)
            return OperatorFound(side=_side_of(key, parties), extension=values.get("extension"),
                                 extension_layer=layer if values.get("extension") else None, entry=entry, how=layer)
        if values.get("extension"):
            key = values["extension"]
            entry = directory.find(key)
            return OperatorFound(side=_side_of(key, parties), extension=key, extension_layer=layer, entry=entry,
                                 how=layer, unknown_key=None if entry or not len(directory) else key)
    value, layer = direction
    order = ("caller", "callee") if value == "outbound" else ("callee", "caller")
    for side in order:
        for number, source, _channel in getattr(parties, side):
            entry = directory.find(number)
            if entry is not None:
                return OperatorFound(side=side, extension=number, extension_layer=source, entry=entry,
                                     how="directory")
    if value not in ("inbound", "outbound"):
        return OperatorFound()
    side = order[0]
    for number, source, channel in getattr(parties, side):
        if channel or len(number) <= _EXTENSION_MAX:
            return OperatorFound(side=side, extension=number, extension_layer=source, how=layer,
                                 unknown_key=number if len(directory) else None)
    return OperatorFound(side=side, how=layer)


def _side_of(number: str | None, parties: Sides) -> str | None:
    if not number:
        return None
    for side in ("callee", "caller"):
        if any(n == number for n, _, _ in getattr(parties, side)):
            return side
    return None


def directory_layer(found: OperatorFound) -> dict[str, Any]:
    """The directory's fields of the operator found."""
    entry = found.entry
    if entry is None:
        return {}
    return {"operator_id": entry.operator_id, "operator_name": entry.name, "team": entry.team, "line": entry.line}


def resolve(layers: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Every field from the highest layer that has it (:data:`LAYERS` order), and the layer it came from."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer in LAYERS:
        for key, value in layers.get(layer, {}).items():
            if key not in values and value is not None and value != "":
                values[key], sources[key] = value, layer
    return values, sources


def build_info(layers: dict[str, dict[str, Any]], fallback_id: str, extra: dict[str, Any],
               sidecar: CallInfo | None) -> CallInfo:
    """The call's :class:`CallInfo` from its layers; ``extra`` metadata (source name, legs, transfers) added;
    the sidecar's own metadata keys kept."""
    values, sources = resolve(layers)
    metadata = {k: v for k, v in values.items() if k not in _TOP_FIELDS}
    metadata.update(extra)
    if sidecar is not None:
        for key in sidecar.metadata:
            metadata.setdefault(key, sidecar.metadata[key])
    if "id" not in values:
        sources["id"] = "file_name"  # the file's name (without a leg suffix) is the id
    return CallInfo(
        conversation_id=str(values.get("id") or fallback_id),
        operator_id=values.get("operator_id"),
        team=values.get("team"),
        started_at=values.get("started_at"),
        channels=values.get("channels"),
        raw_format=sidecar.raw_format if sidecar is not None else None,
        metadata=metadata,
        sources=sources,
    )
