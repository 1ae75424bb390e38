"""Reading a PBX source (a ``[[sources]]`` entry of qa.toml): its recording folder, call log and operator directory
joined into calls, as the inbox gives them to the nightly flow.

A file is joined to its call-log rows by the ``uniqueid`` its name carries, else by the log's ``recordingfile``
(compared without the extension: a post-call script may have turned the .wav into an .mp3). Split legs
(``NAME-in``/``NAME-out``, ``NAME-r``/``NAME-t``) become one two-channel call. Transfers: the rows of one
``uniqueid`` are one recording, so one conversation (its operator is the first to answer; the later ones are
listed in ``metadata.transfers``); recordings sharing a ``linkedid`` are separate conversations (each its own
operator), linked to each other in ``metadata.linked``. What is skipped or doubtful is counted in the
:class:`~qa.inbox.report.SourceReport`.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.config import SourceSettings
from qa.errors import QAInputError, SourceError
from qa.inbox.calllog import CallRow, direction_value, read_call_log
from qa.inbox.calls import build_info, directory_layer, find_operator, row_layer, sidecar_layer, sides
from qa.inbox.directory import Directory, read_directory
from qa.inbox.filenames import FileNamePattern, compile_pattern, field_time, nfc, split_leg, unusual_name
from qa.inbox.inputs import AUDIO_SUFFIXES, CallInfo, InboxItem, content_hash, inbox_files, read_sidecar
from qa.inbox.report import SourceReport


@dataclass
class SourceCall:
    """One call found in a source, before its files are hashed."""

    files: tuple[Path, ...]  # the leg files in channel order (caller, callee), or the one file
    paired: bool
    sidecar: Path | None
    info: CallInfo
    name: str  # its file name relative to the folder (the base name for legs), for listings


@dataclass
class SourceScan:
    """What reading a source found: its calls and the report of counts and problems."""

    settings: SourceSettings
    calls: list[SourceCall] = field(default_factory=list)
    report: SourceReport = field(default_factory=lambda: SourceReport("", ""))

    def items(self) -> list[InboxItem]:
        """The calls as inbox items (files hashed: audio, every leg and the sidecar). A file that went away or
        cannot be read since the folder was listed is reported and its call left for the next run."""
        out = []
        for call in self.calls:
            hashed = (*call.files, *([call.sidecar] if call.sidecar else []))
            try:
                sha = content_hash(*hashed)
            except OSError as exc:
                self.report.add("unreadable_file", f"{call.name}: {exc.strerror or exc}")
                continue
            out.append(InboxItem(str(call.files[0]), "call", sha, str(call.sidecar) if call.sidecar else None,
                                 tuple(str(f) for f in call.files) if call.paired else (), call.info))
        return out


def open_patterns(settings: SourceSettings) -> list[FileNamePattern]:
    """The source's file-name patterns compiled (a :class:`~qa.config.ConfigError` naming the bad one)."""
    return [compile_pattern(p, settings.where("pattern")) for p in settings.patterns]


def source_paths(settings: SourceSettings) -> tuple[Path, ...]:
    """The folder, call log and directory of a source (resolved), for an inbox to leave them out."""
    paths = [Path(settings.folder).expanduser().resolve()]
    if settings.call_log and "*" not in settings.call_log.path:
        paths.append(Path(settings.call_log.path).resolve())
    if settings.directory:
        paths.append(Path(settings.directory.path).resolve())
    return tuple(paths)


class _LogIndex:
    """The call-log rows by uniqueid and by recording file name; which were matched to a file."""

    def __init__(self, rows: list[CallRow], folder: Path, report: SourceReport) -> None:
        self.by_uid: dict[str, list[CallRow]] = defaultdict(list)
        self.by_file: dict[str, list[CallRow]] = defaultdict(list)
        self.rows: list[CallRow] = []
        self.used: set[int] = set()
        for row in rows:
            if row.recordingfile:
                key = _file_key(folder, row.recordingfile)
                if key is None:
                    report.add("outside_folder", f"{row.where}: {row.recordingfile}")
                    continue
                self.by_file[key].append(row)
            if row.uniqueid:
                self.by_uid[row.uniqueid].append(row)
            self.rows.append(row)
        for uid, group in self.by_uid.items():
            answered = [r for r in group if r.answered]
            if len(answered) > 1:  # a queue's unanswered ring attempts share the uniqueid as a matter of course
                report.add("duplicate_uniqueid", f"{uid}: {len(answered)} answered rows "
                                                 f"({', '.join(r.where for r in answered)})")

    def rows_for(self, uniqueid: str | None, stems: list[str]) -> list[CallRow]:
        """The rows of a file: by its uniqueid, else by its name; with every row sharing their uniqueids."""
        found = list(self.by_uid.get(uniqueid, ())) if uniqueid else []
        if not found:
            for stem in stems:
                found = list(self.by_file.get(nfc(stem).casefold(), ()))
                if found:
                    break
        for uid in {r.uniqueid for r in found if r.uniqueid}:
            found += [r for r in self.by_uid[uid] if r not in found]
        self.used.update(id(r) for r in found)
        return found

    def unmatched(self) -> list[CallRow]:
        """Answered rows no file was found for (one per uniqueid)."""
        seen: set[str] = set()
        out = []
        for row in self.rows:
            if id(row) in self.used or not row.answered:
                continue
            if row.uniqueid and (row.uniqueid in seen or any(id(r) in self.used for r in self.by_uid[row.uniqueid])):
                continue
            seen.add(row.uniqueid or row.where)
            out.append(row)
        return out


def _file_key(folder: Path, reference: str) -> str | None:
    """A recording file named by a call-log row, as a lookup key (its name without the extension, casefolded);
    ``None`` when the row points outside the source folder."""
    ref = Path(reference.strip())
    if ref.is_absolute() or len(ref.parts) > 1:
        target = (ref if ref.is_absolute() else folder / ref).resolve()
        if folder not in target.parents:
            return None
    return nfc(Path(ref.name).stem if ref.suffix.lower() in AUDIO_SUFFIXES else ref.name).casefold()


@dataclass
class _Group:
    """Files of one recording: whole files and legs by suffix."""

    whole: list[Path] = field(default_factory=list)
    legs: dict[str, Path] = field(default_factory=dict)


def _groups(folder: Path, files: list[Path], settings: SourceSettings, patterns: list[FileNamePattern]
            ) -> dict[tuple[Path, str], _Group]:
    """Audio files by (folder, base name): a leg suffix read only when a partner exists or the base matches."""
    stems = {(p.parent, nfc(p.stem).casefold()) for p in files}
    out: dict[tuple[Path, str], _Group] = defaultdict(_Group)
    for p in files:
        stem = nfc(p.stem)
        leg = split_leg(stem, list(settings.legs))
        if leg:
            base, suffix = leg
            partners = [s for s in settings.legs if s != suffix and settings.legs[s] != settings.legs[suffix]]
            partner = any((p.parent, f"{base}{sep}{s}".casefold()) in stems for s in partners for sep in "-_")
            if partner or not patterns or any(pt.match(base + p.suffix, base) for pt in patterns):
                out[(p.parent, base)].legs[suffix] = p
                continue
        out[(p.parent, stem)].whole.append(p)
    return out


class _Reader:
    """Puts the calls of one source together."""

    def __init__(self, settings: SourceSettings, folder: Path, patterns: list[FileNamePattern],
                 report: SourceReport, directory: Directory | None, index: _LogIndex | None,
                 jsons: set[Path]) -> None:
        self.settings, self.folder, self.patterns, self.report = settings, folder, patterns, report
        self.directory, self.index, self.jsons = directory, index, jsons  # the folder's .json files: sidecars

    def calls(self, key: tuple[Path, str], group: _Group) -> list[SourceCall]:
        parent, base = key
        legs = self.settings.legs
        callers = [group.legs[s] for s in sorted(group.legs) if legs[s] == "caller"]
        callees = [group.legs[s] for s in sorted(group.legs) if legs[s] == "callee"]
        if callers and callees:
            for whole in group.whole:
                self.report.add("mixed_and_legs", f"{self._rel(whole)}: its split legs are read instead")
            return [c for c in [self.call(parent, base, (callers[0], callees[0]), paired=True)] if c]
        if group.legs and not group.whole:
            leg_file = (callers or callees)[0]
            suffix = next(s for s, p in group.legs.items() if p == leg_file)
            self.report.add("unpaired_leg", f"{self._rel(leg_file)}: no {'callee' if callers else 'caller'} leg; "
                                            "scored as mono")
            call = self.call(parent, base, (leg_file,), paired=False, extra={"leg": suffix})
            return [call] if call else []
        for leg_file in group.legs.values():
            self.report.add("mixed_and_legs", f"{self._rel(leg_file)}: a lone leg beside the mixed recording "
                                              "(the mixed one is read)")
        return [c for c in (self.call(parent, nfc(p.stem), (p,), paired=False) for p in group.whole) if c]

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.folder).as_posix()

    def _name_fields(self, name: str, stem: str, display: str) -> dict[str, Any]:
        if not self.patterns:
            return {}
        for pattern in self.patterns:
            fields = pattern.match(name, stem)
            if fields is None:
                continue
            layer: dict[str, Any] = {k: v for k, v in fields.items() if k not in ("date", "time", "datetime",
                                                                                  "timestamp")}
            layer["id"] = fields.get("uniqueid")
            try:
                layer["started_at"] = field_time(fields, dict(pattern.formats), self.settings.timezone)
            except (ValueError, OverflowError, OSError):
                when = " ".join(fields[k] for k in ("date", "time", "datetime", "timestamp") if k in fields)
                self.report.add("malformed_date", f"{display}: {when!r} in the file name")
            if layer.get("direction"):
                layer["direction"], known = direction_value(layer["direction"], self.settings.directions)
                if not known:
                    self.report.add("unknown_direction", f"{display}: {layer['direction']!r}")
            return layer
        self.report.add("unmatched_name", display)
        return {}

    def _sidecar(self, parent: Path, base: str, files: tuple[Path, ...]) -> tuple[Path | None, CallInfo | None]:
        for candidate in (parent / f"{base}.json", *(f.with_suffix(".json") for f in files)):
            if candidate in self.jsons:
                try:
                    return candidate, read_sidecar(files[0], candidate)
                except QAInputError as exc:
                    self.report.add("bad_sidecar", str(exc))
                    return candidate, None
        return None, None

    def _log_rows(self, display: str, uniqueid: str | None, stems: list[str]
                  ) -> tuple[CallRow | None, list[CallRow], bool]:
        """(the row that speaks for the call, later answered rows, skip) from the call log."""
        if self.index is None:
            return None, [], False
        rows = self.index.rows_for(uniqueid, stems)
        if not rows:
            self.report.add("no_log_row", display)
            return None, [], False
        answered = sorted((r for r in rows if r.answered), key=lambda r: (r.start is None, r.start or 0))
        if not answered:
            unknown = [r for r in rows if r.answered is None]
            kind = "unknown_disposition" if unknown else "not_answered"
            values = sorted({r.disposition or "(empty)" for r in (unknown or rows)})
            self.report.add(kind, f"{display}: {', '.join(values)} ({', '.join(r.where for r in rows)})")
            return None, [], True
        longest = max((r.billsec for r in answered if r.billsec is not None), default=None)
        minimum = self.settings.call_log.min_billsec if self.settings.call_log else 0.0
        if longest is not None and longest < minimum:
            self.report.add("too_short", f"{display}: billsec {longest:g} < {minimum:g} ({answered[0].where})")
            return None, [], True
        return answered[0], answered[1:], False

    def call(self, parent: Path, base: str, files: tuple[Path, ...], paired: bool,
             extra: dict[str, Any] | None = None) -> SourceCall | None:
        display = (parent / base).relative_to(self.folder).as_posix() if paired else self._rel(files[0])
        name_fields = self._name_fields(base + files[0].suffix, base, display)
        row, transfers, skip = self._log_rows(display, name_fields.get("uniqueid"),
                                              [base, *(nfc(f.stem) for f in files)])
        if skip:
            return None
        sidecar_path, sidecar = self._sidecar(parent, base, files)
        layers = {"sidecar": sidecar_layer(sidecar), "call_log": row_layer(row), "file_name": name_fields}
        if layers["sidecar"].get("direction"):
            layers["sidecar"]["direction"] = direction_value(layers["sidecar"]["direction"],
                                                             self.settings.directions)[0]
        direction = next(((layers[n]["direction"], n) for n in ("sidecar", "call_log", "file_name")
                          if layers[n].get("direction")), (None, None))
        found = find_operator(layers, sides(row, name_fields), self.directory, direction)
        if found.unknown_key:
            self.report.add("unknown_extension", f"{display}: {found.unknown_key}")
        if found.extension and found.extension_layer:
            if not layers[found.extension_layer].get("extension"):
                layers[found.extension_layer]["extension"] = found.extension
            if found.entry is None and not any(layers[n].get("operator_id") for n in layers):
                layers[found.extension_layer]["operator_id"] = found.extension
        layers["directory"] = directory_layer(found)
        if paired:
            roles = {"caller": "unknown", "callee": "unknown"}
            if found.side:
                roles = {"caller": "client", "callee": "client", found.side: "operator"}
            layer = found.how if found.side and found.how in layers else "file_name"
            layers[layer]["channels"] = {"0": roles["caller"], "1": roles["callee"]}
        meta: dict[str, Any] = {"source": self.settings.name, **(extra or {})}
        if paired:
            meta["legs"] = [str(f) for f in files]
        if transfers:
            meta["transfers"] = [self._transfer(r) for r in transfers]
        info = build_info(layers, base, meta, sidecar)
        if not info.operator_id:
            self.report.add("operator_unknown", display)
        return SourceCall(files, paired, sidecar_path, info, display)

    def _transfer(self, row: CallRow) -> dict[str, Any]:
        number = row.dstchannel_ext or row.dst
        entry = self.directory.find(number) if self.directory else None
        return {"extension": number, "operator_id": entry.operator_id if entry else None,
                "at": row.start.isoformat() if row.start else None, "billsec": row.billsec}


def _dedupe_and_link(calls: list[SourceCall], report: SourceReport) -> None:
    """Give colliding ids ``id~file`` (every one of them, so an id does not depend on which files are present) and
    link calls that share a ``linkedid``."""
    by_id: dict[str, list[SourceCall]] = defaultdict(list)
    for call in calls:
        by_id[call.info.conversation_id].append(call)
    for cid, group in by_id.items():
        if len(group) < 2:
            continue
        for call in group:
            new_id = f"{cid}~{call.name.replace('/', '_')}"
            report.add("duplicate_id", f"{call.name}: {cid} -> {new_id}")
            call.info = dataclasses.replace(call.info, conversation_id=new_id)
    by_link: dict[str, list[SourceCall]] = defaultdict(list)
    for call in calls:
        if call.info.metadata.get("linkedid"):
            by_link[str(call.info.metadata["linkedid"])].append(call)
    for group in by_link.values():
        if len(group) < 2:
            continue
        for call in group:
            others = [c.info.conversation_id for c in group if c is not call]
            call.info = dataclasses.replace(call.info, metadata={**call.info.metadata, "linked": others})


def scan_source(settings: SourceSettings) -> SourceScan:
    """The calls of one source and its report. A missing folder, or a call log or directory that cannot be read,
    is the report's ``error`` (no calls: none is stored without the metadata its files promise); a bad
    file-name pattern raises :class:`~qa.config.ConfigError`."""
    patterns = open_patterns(settings)
    folder = Path(settings.folder).expanduser().resolve()
    scan = SourceScan(settings, report=SourceReport(settings.name, str(folder)))
    report = scan.report
    if not folder.is_dir():
        report.error = f"{folder}: recordings folder not found"
        return scan
    try:
        directory = read_directory(settings.directory, report) if settings.directory else None
        rows = (read_call_log(settings.call_log, settings.timezone, report, settings.where("call_log"),
                              settings.directions) if settings.call_log else None)
    except SourceError as exc:
        report.error = str(exc)
        return scan
    index = _LogIndex(rows, folder, report) if rows is not None else None
    excluded = set(source_paths(settings)[1:])
    files = [p for p in inbox_files(folder) if p not in excluded]
    audio = [p for p in files if p.suffix.lower() in AUDIO_SUFFIXES]
    sidecars = {p.with_suffix(".json") for p in audio}
    report.counts["files"] = len(audio)
    report.counts["other_files"] = len([p for p in files if p not in sidecars and p.suffix.lower() not in
                                        AUDIO_SUFFIXES and p.suffix.lower() != ".json"])
    for p in audio:
        why = unusual_name(nfc(p.name))
        if why:
            report.add("unusual_name", f"{p.relative_to(folder).as_posix()}: {why}")
    reader = _Reader(settings, folder, patterns, report, directory, index,
                     {p for p in files if p.suffix.lower() == ".json"})
    for key, group in sorted(_groups(folder, audio, settings, patterns).items(), key=lambda kv: str(kv[0])):
        scan.calls += reader.calls(key, group)
    _dedupe_and_link(scan.calls, report)
    if index is not None:
        for row in index.unmatched():
            named = row.recordingfile or "no file named"
            report.add("no_file", f"{row.where}: uniqueid {row.uniqueid or '-'}, {named}")
    report.counts["calls"] = len(scan.calls)
    report.counts["paired"] = sum(c.paired for c in scan.calls)
    return scan
