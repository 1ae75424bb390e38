"""What reading a PBX source found: counts, and the files and call-log rows behind every problem.

Nothing is dropped or guessed silently: each file or row that is skipped, refused or read with a fallback is
counted under a kind below with an example naming it; ``qa sources check``, ``qa run`` and the run's record show
them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

EXAMPLES_KEPT = 50  # per kind: enough to find the pattern, bounded for a spool of 100k files

# kind -> what it means. «skipped»: the call log says the call does not count (expected, not a problem).
SKIPPED = {
    "not_answered": "files whose call-log rows are none of them answered (missed, busy, failed): skipped",
    "too_short": "answered calls shorter than min_billsec: skipped, not scored as silent calls",
}
PROBLEMS = {
    "unmatched_name": "files whose name matches no pattern (read with the file name as id)",
    "no_log_row": "files with no call-log row (read from the file name and the directory only)",
    "no_file": "answered call-log rows with no recording file",
    "unknown_extension": "extensions or logins not in the operator directory (operator id = the extension)",
    "operator_unknown": "calls whose operator side could not be told (no directory hit, no direction)",
    "duplicate_id": "files that would get the same conversation id (each given id~file name instead)",
    "duplicate_uniqueid": "uniqueids answered in several call-log rows (kept as one conversation; the later "
                          "answered rows are recorded as transfers)",
    "unpaired_leg": "split recordings with one leg missing (scored as mono)",
    "mixed_and_legs": "a mixed file beside the split legs of the same call (the legs are read, the mixed file not)",
    "malformed_date": "times that cannot be read (the field is taken from the next source, or left empty)",
    "malformed_number": "billsec / duration values that are not numbers (not used to skip the call)",
    "malformed_row": "call-log rows with the wrong number of columns (not read)",
    "unknown_disposition": "call-log rows whose disposition means neither answered nor not (add it to "
                           "answered = [...] if it is; the rows are skipped)",
    "unknown_direction": "direction values that are not inbound, outbound or internal (kept as written)",
    "outside_folder": "call-log rows whose recording file lies outside the source folder (refused)",
    "unusual_name": "file names with Cyrillic letters or spaces (read; some tools mishandle them)",
    "directory_duplicate": "operator directory keys listed twice (the first row is used)",
    "bad_sidecar": "sidecars that cannot be read (the call fails in `qa run` until it is fixed)",
    "unreadable_file": "recordings gone or unreadable since the folder was listed (tried again next run)",
    "encoding": "CSV files not in UTF-8 (read as cp1251)",
    "delimiter": "CSV files separated by something other than commas (read so)",
}


@dataclass
class SourceReport:
    """Counts of what a source held and every problem kind with examples. ``error``: the source could not be read
    at all (its call log or directory is unusable), so none of its calls were taken this time."""

    name: str
    folder: str
    counts: Counter[str] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def add(self, kind: str, example: str) -> None:
        """Count one problem (or skipped call) of ``kind`` with an example naming the file or row."""
        if kind not in PROBLEMS and kind not in SKIPPED:
            raise ValueError(f"unknown problem kind {kind!r}")
        self.problems[kind] += 1
        kept = self.examples.setdefault(kind, [])
        if len(kept) < EXAMPLES_KEPT:
            kept.append(example)

    @property
    def warnings(self) -> int:
        """How many problems (skipped calls not counted)."""
        return sum(n for kind, n in self.problems.items() if kind in PROBLEMS)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (for the run summary and ``qa sources check --format json``)."""
        return {"name": self.name, "folder": self.folder, "counts": dict(self.counts),
                "problems": dict(self.problems), "examples": self.examples, "notes": self.notes, "error": self.error}

    def summary_line(self) -> str:
        """One line for ``qa run``: what was read, skipped and found wrong."""
        if self.error:
            return f"{self.name}: not read: {self.error}"
        c = self.counts
        skipped = ", ".join(f"{self.problems[k]} {k.replace('_', ' ')}" for k in SKIPPED if self.problems[k])
        text = f"{self.name}: {c['files']} files, {c['calls']} calls ({c['paired']} from split legs)"
        if skipped:
            text += f"; skipped by the call log: {skipped}"
        if self.warnings:
            text += "; " + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(self.problems.items())
                                     if kind in PROBLEMS)
        return text
