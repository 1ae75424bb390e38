"""Reading a PBX call log (CDR): Asterisk's ``Master.csv``, FreePBX's CDR export, or any CSV with a column mapping.

The layouts are data (``qa/inbox/data/pbx.json``): Asterisk's ``cdr_csv`` writes no header and its last columns
depend on ``cdr.conf`` (``loguniqueid``, ``loguserfield``, ``newcdrcolumns``); FreePBX's CSV download has a header
of its ``cdr`` table. Times without a zone are read in the source's time zone, or in UTC for ``usegmtime = true``
(``cdr.conf [csv] usegmtime=yes``). Each bad value is reported (:mod:`qa.inbox.report`) with its file and line.
"""

from __future__ import annotations

import glob
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from qa.config import CallLogSettings, ConfigError
from qa.errors import SourceError
from qa.inbox.report import SourceReport
from qa.inbox.tables import CsvTable, read_csv

# The fields a call-log row gives (a mapping's keys); other columns of a preset are read past.
CALL_FIELDS = ("uniqueid", "linkedid", "start", "answer", "end", "src", "dst", "channel", "dstchannel", "did",
               "direction", "disposition", "billsec", "duration", "recordingfile", "extension", "operator_id",
               "operator_name", "team", "line", "queue")
_TIME_FORMATS = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S")
_EPOCH = re.compile(r"\d{9,11}(?:\.\d+)?")
_CLOCK = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2}(?:\.\d+)?)")
# PJSIP/201-0000001a, SIP/201-00000abc, Local/201@from-queue-00000012;1, IAX2/201-1234 -> 201
_CHANNEL = re.compile(r"^[A-Za-z0-9_]+/([^-@;/\s]+)")


@lru_cache(maxsize=1)
def pbx_data() -> dict[str, Any]:
    """The call-log layouts and the disposition and direction words (``qa/inbox/data/pbx.json``)."""
    return json.loads((Path(__file__).parent / "data" / "pbx.json").read_text(encoding="utf-8"))


@dataclass(slots=True)
class CallRow:
    """One call-log row, its values read and checked (``None`` where the log is silent or the value was bad)."""

    where: str  # file:line, for messages
    uniqueid: str | None = None
    linkedid: str | None = None
    start: datetime | None = None
    src: str | None = None
    dst: str | None = None
    did: str | None = None
    channel_ext: str | None = None  # the extension in the channel name (PJSIP/201-… -> 201)
    dstchannel_ext: str | None = None
    direction: str | None = None  # inbound | outbound | internal, or as written when unknown
    disposition: str | None = None  # as written
    answered: bool | None = None  # None: a disposition that means neither
    billsec: float | None = None
    recordingfile: str | None = None
    extension: str | None = None  # the operator's extension or login, when the log names it
    operator_id: str | None = None
    operator_name: str | None = None
    team: str | None = None
    line: str | None = None
    queue: str | None = None


def channel_extension(channel: str | None) -> str | None:
    """The extension (or trunk name) in an Asterisk channel name, e.g. ``PJSIP/201-0000001a`` -> ``201``."""
    found = _CHANNEL.match(channel or "")
    return found.group(1) if found else None


def parse_time(text: str, zone: str, utc: bool = False, fmt: str | None = None) -> datetime | None:
    """A call-log time: ISO 8601, ``dd.mm.yyyy HH:MM[:SS]``, a Unix time, or ``fmt``; a time written without a zone
    is in ``zone`` (UTC when ``utc``). ``None`` for an empty cell; ``ValueError`` for a malformed one."""
    text = text.strip()
    if not text:
        return None
    if fmt:
        moment = datetime.strptime(text, fmt)
    elif _EPOCH.fullmatch(text):
        return datetime.fromtimestamp(float(text), UTC)
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            for candidate in _TIME_FORMATS:
                try:
                    moment = datetime.strptime(text, candidate)
                    break
                except ValueError:
                    continue
            else:
                raise ValueError(f"{text!r} is not a time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC if utc else ZoneInfo(zone))
    return moment


def parse_seconds(text: str) -> float | None:
    """Seconds as ``125``, ``125.5``, ``2:05`` or ``00:02:05``; ``None`` for an empty cell, ``ValueError`` else."""
    text = text.strip().replace(",", ".")
    if not text:
        return None
    clock = _CLOCK.fullmatch(text)
    if clock:
        hours, minutes, seconds = clock.groups()
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    value = float(text)
    if value < 0:
        raise ValueError(f"{text!r} is negative")
    return value


@lru_cache(maxsize=4)
def _words(kind: str) -> dict[str, str]:
    """Casefolded word -> its meaning, for ``dispositions`` or ``directions`` of pbx.json."""
    return {w.casefold(): meaning for meaning, words in pbx_data()[kind].items() for w in words}


def answered_value(disposition: str | None, more: tuple[str, ...] = ()) -> bool | None:
    """Whether a disposition means the call was answered (``None``: neither answered nor known as not)."""
    if not disposition:
        return None
    word = disposition.strip().casefold()
    if word in {m.casefold() for m in more}:
        return True
    meaning = _words("dispositions").get(word)
    return None if meaning is None else meaning == "answered"


def direction_value(word: str | None, more: dict[str, str] | None = None) -> tuple[str | None, bool]:
    """``(direction, known)``: inbound, outbound or internal for a PBX's word for it (FreePBX's ``in``/``out``/
    ``exten``, a cloud export's «Входящий»), or the word as written and ``False``."""
    if not word or not word.strip():
        return None, True
    folded = word.strip().casefold()
    extra = {k.casefold(): v for k, v in (more or {}).items()}
    if folded in extra:
        return extra[folded], True
    meaning = _words("directions").get(folded)
    return (meaning, True) if meaning else (word.strip(), False)


def _columns(table: CsvTable, settings: CallLogSettings, where: str) -> dict[str, list[int]]:
    """Field -> the column indexes it reads (several: joined by a space)."""
    preset = pbx_data()["call_logs"][settings.format]
    if settings.format == "asterisk":
        layout = list(preset["columns"])
        layout += preset["loguniqueid"] if settings.loguniqueid else []
        layout += preset["loguserfield"] if settings.loguserfield else []
        layout += preset["newcdrcolumns"]  # read when the row has them (newcdrcolumns=yes)
        mapping: dict[str, Any] = {name: i + 1 for i, name in enumerate(layout) if name in CALL_FIELDS}
    else:
        mapping = {k: v for k, v in preset["columns"].items() if k in CALL_FIELDS}
    for key in settings.columns:
        if key not in CALL_FIELDS:
            from qa.fuzzy import nearest_name

            hint = nearest_name(key, CALL_FIELDS)
            raise ConfigError(f"{where}.columns.{key}: not a call-log field" + (f" (did you mean {hint!r}?)" if hint
                                                                               else "")
                              + f"; known: {', '.join(CALL_FIELDS)}")
    mapping.update(settings.columns)
    out: dict[str, list[int]] = {}
    for key, names in mapping.items():
        indexes = []
        for name in names if isinstance(names, list) else [names]:
            if isinstance(name, int):
                indexes.append(name - 1)
                continue
            index = table.column(name)
            if index is None:
                if settings.format == "freepbx" and key not in settings.columns:
                    continue  # an older FreePBX without this column
                from qa.fuzzy import nearest_name

                hint = nearest_name(name, table.header or [])
                raise SourceError(table.path, f"no column {name!r} (for {key}) in the header" +
                                  (f"; did you mean {hint!r}?" if hint else f": {', '.join(table.header or [])}"))
            indexes.append(index)
        if indexes:
            out[key] = indexes
    return out


def _row_width(settings: CallLogSettings) -> tuple[int, ...]:
    """The column counts an Asterisk Master.csv row may have under these cdr.conf settings."""
    preset = pbx_data()["call_logs"]["asterisk"]
    base = len(preset["columns"]) + settings.loguniqueid * 1 + settings.loguserfield * 1
    extra = len(preset["newcdrcolumns"])
    return {None: (base, base + extra), True: (base + extra,), False: (base,)}[settings.newcdrcolumns]


class _RowReader:
    """Turns cells into a :class:`CallRow`, reporting each bad value."""

    def __init__(self, settings: CallLogSettings, zone: str, directions: dict[str, str], report: SourceReport):
        self.settings, self.zone, self.directions, self.report = settings, zone, directions, report

    def row(self, where: str, cells: list[str], columns: dict[str, list[int]]) -> CallRow:
        def value(key: str) -> str | None:
            parts = [cells[i].strip() for i in columns.get(key, ()) if i < len(cells)]
            text = " ".join(p for p in parts if p)
            return text or None

        row = CallRow(where=where)
        for key in ("uniqueid", "linkedid", "src", "dst", "did", "recordingfile", "extension", "operator_id",
                    "operator_name", "team", "line", "queue"):
            setattr(row, key, value(key))
        row.channel_ext = channel_extension(value("channel"))
        row.dstchannel_ext = channel_extension(value("dstchannel"))
        for key in ("start", "answer"):
            text = value(key)
            try:
                moment = parse_time(text or "", self.zone, self.settings.usegmtime, self.settings.time_format)
            except ValueError:
                self.report.add("malformed_date", f"{where}: {key} {text!r}")
                continue
            if moment is not None and row.start is None:
                row.start = moment  # the call's start; its answer time when the start is missing
        for key in ("billsec", "duration"):
            text = value(key)
            try:
                seconds = parse_seconds(text or "")
            except ValueError:
                self.report.add("malformed_number", f"{where}: {key} {text!r}")
                continue
            if seconds is not None and row.billsec is None:
                row.billsec = seconds
        row.disposition = value("disposition")
        row.answered = answered_value(row.disposition, self.settings.answered)
        if row.disposition is None and "disposition" not in columns:
            row.answered = True  # a log without dispositions lists calls, not attempts
        direction, known = direction_value(value("direction"), self.directions)
        if not known:
            self.report.add("unknown_direction", f"{where}: {direction!r}")
        row.direction = direction
        return row


def _files(settings: CallLogSettings) -> list[Path]:
    if glob.has_magic(settings.path):
        found = sorted(Path(p) for p in glob.glob(settings.path))
        if not found:
            raise SourceError(settings.path, "no call log file matches this pattern")
        return found
    return [Path(settings.path)]


def read_call_log(settings: CallLogSettings, zone: str, report: SourceReport, where: str,
                  directions: dict[str, str] | None = None) -> list[CallRow]:
    """Every row of the call log file(s), in file order. :class:`SourceError` when a file cannot be read or lacks a
    mapped column; a bad row or value is reported and read past."""
    reader = _RowReader(settings, zone, directions or {}, report)
    preset = pbx_data()["call_logs"][settings.format]
    widths = _row_width(settings) if settings.format == "asterisk" else None
    rows: list[CallRow] = []
    for path in _files(settings):
        table = read_csv(path, settings.encoding, settings.delimiter, header=preset["header"])
        for note in table.notes:
            report.notes.append(f"{path.name}: {note}")
            report.add("encoding" if "cp1251" in note or "UTF-16" in note else "delimiter", f"{path}: {note}")
        columns = _columns(table, settings, where)
        for line, cells in table.rows:
            at = f"{path.name}:{line}"
            if widths and len(cells) not in widths:
                report.add("malformed_row", f"{at}: {len(cells)} columns, expected "
                                            f"{' or '.join(map(str, widths))} (cdr.conf [csv] loguniqueid, "
                                            "loguserfield, newcdrcolumns)")
                continue
            rows.append(reader.row(at, cells, columns))
        report.counts["log_rows"] += len(table.rows)
    return rows
