"""Reading the CSV files a PBX and an HR system export: the encoding and the separator found out, and said.

Russian Windows exports are often cp1251 and separated by semicolons (Excel's list separator in a Russian locale);
Asterisk writes UTF-8 with commas. ``auto`` reads UTF-8 (with or without a BOM, or UTF-16 with one) and falls back
to cp1251; the separator is sniffed among ``, ; tab |``. Each is reported (:attr:`CsvTable.notes`) so that a
surprising guess can be overridden with ``encoding`` / ``delimiter`` in qa.toml.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import SourceError

DELIMITERS = ",;\t|"
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}
_SAMPLE_LINES = 50


@dataclass
class CsvTable:
    """The rows of a CSV file (the header apart when it has one), and how the file was read."""

    path: Path
    rows: list[tuple[int, list[str]]]  # (line number in the file, cells)
    header: list[str] | None
    encoding: str
    delimiter: str
    notes: list[str] = field(default_factory=list)  # what was found out: cp1251, semicolons

    def column(self, name: str) -> int | None:
        """The index of the header column ``name`` (case, spaces and a BOM ignored), ``None`` when absent."""
        wanted = name.strip().casefold()
        for i, title in enumerate(self.header or ()):
            if title.strip().lstrip("\ufeff").casefold() == wanted:
                return i
        return None


def _decode(path: Path, data: bytes, encoding: str) -> tuple[str, str, list[str]]:
    if encoding != "auto":
        try:
            return data.decode(encoding), encoding, []
        except LookupError as exc:
            raise SourceError(path, f"unknown encoding {encoding!r}") from exc
        except UnicodeDecodeError as exc:
            raise SourceError(path, f"not {encoding} text (byte {exc.start}: {exc.reason}); set the file's "
                                    "encoding in qa.toml, or encoding = 'auto'") from exc
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16", ["read as UTF-16 (byte-order mark)"]
    try:
        return data.decode("utf-8-sig"), "utf-8", []
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1251"), "cp1251", ["not UTF-8: read as cp1251 (Windows Cyrillic)"]
    except UnicodeDecodeError as exc:
        raise SourceError(path, f"neither UTF-8 nor cp1251 text (byte {exc.start}); set its encoding in "
                                "qa.toml") from exc


def _sniff(text: str) -> str:
    sample = "\n".join(text.splitlines()[:_SAMPLE_LINES])
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = next((line for line in text.splitlines() if line.strip()), "")
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def read_csv(path: str | Path, encoding: str = "auto", delimiter: str = "auto", header: bool = True) -> CsvTable:
    """The rows of ``path`` (blank lines skipped); :class:`SourceError` naming the file when it cannot be read."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise SourceError(path, "file not found") from exc
    except OSError as exc:
        raise SourceError(path, f"cannot be read: {exc.strerror or exc}") from exc
    text, used, notes = _decode(path, data, encoding)
    sep = _sniff(text) if delimiter == "auto" else delimiter.replace("\\t", "\t")
    if len(sep) != 1:
        raise SourceError(path, f"delimiter {delimiter!r} must be one character")
    if delimiter == "auto" and sep != ",":
        notes.append(f"{_DELIMITER_NAMES.get(sep, repr(sep))}-separated")
    try:
        parsed = [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=sep), 1)
                  if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise SourceError(path, f"not a readable CSV file: {exc}") from exc
    titles = None
    if header:
        if not parsed:
            raise SourceError(path, "empty file: expected a header row")
        titles = [t.strip().lstrip("\ufeff") for t in parsed.pop(0)[1]]
    return CsvTable(path=path, rows=parsed, header=titles, encoding=used, delimiter=sep, notes=notes)
