"""Reading what a PBX writes into a recording's file name: named fields, dates and times, split legs.

A pattern is the file name with its variable parts named in braces, e.g. FreePBX's
``{direction}-{dst}-{src}-{date:%Y%m%d}-{time:%H%M%S}-{uniqueid}.wav`` (its ``CALLFILENAME``: call type, the
number dialled, the extension or caller, date, time and the call's ``UNIQUEID``). A field with a ``strftime``
format only matches what that format writes. ``{_}`` (or any name starting with ``_``) matches a part that is not
read. A pattern without a file extension matches every audio file.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from qa.config import ConfigError

FIELDS = ("date", "time", "datetime", "timestamp", "direction", "src", "dst", "extension", "queue", "uniqueid",
          "linkedid", "line", "did")
_TOKEN = re.compile(r"\{([^{}:]*)(?::([^{}]*))?\}")
# strftime directives a PBX writes, as the text they produce (zero-padded numbers)
_DIRECTIVES = {"Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}", "I": r"\d{2}",
               "M": r"\d{2}", "S": r"\d{2}", "j": r"\d{3}", "f": r"\d{1,6}", "p": r"(?:AM|PM|am|pm)",
               "b": r"[^\W\d_]{3}", "z": r"[+-]\d{4}", "%": "%"}
_NUMBER = r"\d+(?:\.\d+)?"
_ANY = r"[^/]+?"
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")


@dataclass(frozen=True)
class FileNamePattern:
    """A compiled file-name pattern: ``match`` gives the named fields of a name, or ``None``."""

    text: str
    regex: re.Pattern[str]
    formats: tuple[tuple[str, str], ...]  # (field, strftime format)
    has_suffix: bool  # the pattern names the file extension (``.wav``); otherwise any audio extension

    def match(self, name: str, stem: str) -> dict[str, str] | None:
        """The fields of a file ``name`` (``stem``: the name without its extension, or without its leg suffix)."""
        found = self.regex.fullmatch(name if self.has_suffix else stem)
        if not found:
            return None
        return {k: v for k, v in found.groupdict().items() if not k.startswith("_") and v is not None}


def _format_regex(fmt: str, where: str) -> str:
    out, i = [], 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            directive = fmt[i + 1]
            if directive not in _DIRECTIVES:
                raise ConfigError(f"{where}: %{directive} is not a strftime directive this reader knows "
                                  f"({', '.join('%' + d for d in _DIRECTIVES)})")
            out.append(_DIRECTIVES[directive] if directive != "%" else "%")
            i += 2
            continue
        out.append(re.escape(ch))
        i += 1
    return "".join(out)


def compile_pattern(text: str, where: str) -> FileNamePattern:
    """A pattern as :class:`FileNamePattern`; a :class:`ConfigError` naming ``where`` for an unknown field, an
    unknown ``strftime`` directive or a field named twice."""
    from qa.fuzzy import nearest_name

    parts: list[str] = []
    formats: list[tuple[str, str]] = []
    seen: set[str] = set()
    end = 0
    for n, token in enumerate(_TOKEN.finditer(text)):
        parts.append(re.escape(text[end:token.start()]))
        end = token.end()
        name, fmt = token.group(1).strip(), token.group(2)
        if not name or name.startswith("_"):
            parts.append(f"(?P<_skip{n}>.+?)")
            continue
        if name not in FIELDS:
            hint = nearest_name(name, FIELDS)
            raise ConfigError(f"{where}: unknown field {{{name}}}" + (f" (did you mean {{{hint}}}?)" if hint else "")
                              + f"; known: {', '.join(FIELDS)}")
        if name in seen:
            raise ConfigError(f"{where}: field {{{name}}} appears twice")
        seen.add(name)
        if fmt:
            formats.append((name, fmt))
            parts.append(f"(?P<{name}>{_format_regex(fmt, where)})")
        elif name in ("date", "time", "datetime"):
            raise ConfigError(f"{where}: {{{name}}} needs its strftime format, e.g. {{date:%Y%m%d}}")
        else:
            parts.append(f"(?P<{name}>{_NUMBER if name == 'timestamp' else _ANY})")
    tail = text[end:]
    if "{" in tail or "}" in tail:
        raise ConfigError(f"{where}: unbalanced brace in {text!r}")
    suffix = re.search(r"\.[A-Za-z0-9]{2,5}$", tail)
    if suffix:  # the extension in any case (.wav, .WAV)
        parts.append(re.escape(tail[: suffix.start()]) + f"(?i:{re.escape(suffix.group())})")
    else:
        parts.append(re.escape(tail))
    return FileNamePattern(text, re.compile("".join(parts)), tuple(formats), bool(suffix))


def nfc(name: str) -> str:
    """A name in Unicode NFC (macOS and some archivers write Cyrillic «й» as «и» + a combining breve)."""
    return unicodedata.normalize("NFC", name)


def unusual_name(name: str) -> str | None:
    """Why a file name may trip other tools (Cyrillic letters, spaces), or ``None``."""
    reasons = [why for why, hit in (("Cyrillic letters", _CYRILLIC.search(name)), ("spaces", " " in name)) if hit]
    return " and ".join(reasons) or None


def split_leg(stem: str, suffixes: list[str]) -> tuple[str, str] | None:
    """``(base, leg)`` when ``stem`` ends with ``-LEG`` or ``_LEG`` for one of the leg ``suffixes``, else ``None``."""
    for suffix in sorted(suffixes, key=len, reverse=True):
        for sep in ("-", "_"):
            end = f"{sep}{suffix}"
            if stem.lower().endswith(end.lower()) and len(stem) > len(end):
                return stem[: -len(end)], suffix
    return None


def field_time(fields: dict[str, str], formats: dict[str, str], zone: str) -> datetime | None:
    """The moment the file name says (``date`` + ``time``, ``datetime`` or a Unix ``timestamp``), in ``zone`` when
    written without one; ``None`` when it says none. ``ValueError`` for a malformed one (e.g. month 13)."""
    if "timestamp" in fields:
        return datetime.fromtimestamp(float(fields["timestamp"]), UTC)
    if "datetime" in fields:
        moment = datetime.strptime(fields["datetime"], formats["datetime"])
    elif "date" in fields:
        day = datetime.strptime(fields["date"], formats["date"])
        if "time" in fields:
            clock = datetime.strptime(fields["time"], formats["time"])
            day = day.replace(hour=clock.hour, minute=clock.minute, second=clock.second,
                              microsecond=clock.microsecond)
        moment = day
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))
