"""Benchmark of PII redaction: recall per kind, false redactions, over-redaction and throughput.

Run ``python benchmarks/bench_redact.py``. The test set is ``tests/fixtures/pii_cases.yml`` (see its header):
utterances with personal data marked inline as ``{kind|text}`` and clean utterances that must not change.

How it counts: a gold span is recalled when every letter and digit of it lies inside some redacted span (of
any kind; «kind right» also asks for the gold kind). A clean utterance is altered when anything in it is
redacted. Over-redaction: words of the PII utterances outside every gold span that a redaction touches,
out of all such words. Throughput: utterances per second over the whole set, the lemmatiser cache warm.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from qa.redaction import KINDS, PiiSpan, Redactor  # noqa: E402
from qa.ruleset import read_yaml  # noqa: E402

CASES_PATH = REPO_ROOT / "tests" / "fixtures" / "pii_cases.yml"
_MARK = re.compile(r"\{(\w+)\|([^{}]*)\}")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Case:
    """One utterance of the test set with its gold spans (none for a clean utterance)."""

    text: str
    gold: tuple[PiiSpan, ...]


@dataclass(frozen=True, slots=True)
class Figures:
    """What the benchmark measures."""

    gold_by_kind: dict[str, int]
    recalled_by_kind: dict[str, int]
    kind_right_by_kind: dict[str, int]
    clean_total: int
    clean_altered: tuple[str, ...]
    outside_words: int
    outside_redacted: int
    missed: tuple[str, ...]
    seconds: float
    utterances: int

    @property
    def recall(self) -> float:
        return sum(self.recalled_by_kind.values()) / max(1, sum(self.gold_by_kind.values()))

    @property
    def false_share(self) -> float:
        return len(self.clean_altered) / max(1, self.clean_total)

    @property
    def over_redaction(self) -> float:
        return self.outside_redacted / max(1, self.outside_words)


def parse_case(marked: str) -> Case:
    """An utterance with its ``{kind|text}`` marks removed, and the marked spans."""
    pieces: list[str] = []
    gold: list[PiiSpan] = []
    position = length = 0
    for match in _MARK.finditer(marked):
        plain = marked[position:match.start()]
        pieces.append(plain)
        length += len(plain)
        kind, value = match.group(1), match.group(2)
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r} in {marked!r}")
        gold.append(PiiSpan(kind, length, length + len(value), value))
        pieces.append(value)
        length += len(value)
        position = match.end()
    pieces.append(marked[position:])
    return Case("".join(pieces), tuple(gold))


def load_cases(path: Path = CASES_PATH, part: str = "") -> tuple[list[Case], list[Case]]:
    """The PII cases and the clean cases of the test set (``part="holdout_"``: of its held-out part)."""
    data = read_yaml(path)
    return [parse_case(text) for text in data[f"{part}pii"]], [parse_case(text) for text in data[f"{part}clean"]]


def covered(span: PiiSpan, found: list[PiiSpan], kind: str | None = None) -> bool:
    """True when every letter and digit of ``span`` lies inside a found span (of ``kind`` when given)."""
    return all(
        any(f.start <= i < f.end and (kind is None or f.kind == kind) for f in found)
        for i in range(span.start, span.end)
        if span.text[i - span.start].isalnum()
    )


def measure(redactor: Redactor, pii: list[Case], clean: list[Case]) -> Figures:
    """Runs the redactor over the test set and counts."""
    gold_by_kind: Counter[str] = Counter()
    recalled: Counter[str] = Counter()
    kind_right: Counter[str] = Counter()
    missed: list[str] = []
    outside_words = outside_redacted = 0
    started = time.perf_counter()
    found_pii = [redactor.find(case.text) for case in pii]
    found_clean = [redactor.find(case.text) for case in clean]
    seconds = time.perf_counter() - started
    for case, found in zip(pii, found_pii, strict=True):
        for span in case.gold:
            gold_by_kind[span.kind] += 1
            if covered(span, found):
                recalled[span.kind] += 1
                kind_right[span.kind] += covered(span, found, span.kind)
            else:
                missed.append(f"{span.kind}: {span.text!r} in {case.text!r} -> {[(f.kind, f.text) for f in found]}")
        for word in _WORD.finditer(case.text):
            if any(g.start < word.end() and word.start() < g.end for g in case.gold):
                continue
            outside_words += 1
            outside_redacted += any(f.start < word.end() and word.start() < f.end for f in found)
    altered = tuple(
        f"{case.text!r} -> {[(f.kind, f.text) for f in found]}"
        for case, found in zip(clean, found_clean, strict=True)
        if found
    )
    return Figures(dict(gold_by_kind), dict(recalled), dict(kind_right), len(clean), altered, outside_words,
                   outside_redacted, tuple(missed), seconds, len(pii) + len(clean))


def report(redactor: Redactor, part: str) -> None:
    """Measures one part of the test set and prints its table."""
    pii, clean = load_cases(part=part)
    for case in pii + clean:  # warm the lemmatiser's caches so the timing is of the redactor
        redactor.find(case.text)
    figures = measure(redactor, pii, clean)
    print(f"\n{part.rstrip('_') or 'main'} set: {len(pii)} utterances with {sum(figures.gold_by_kind.values())} "
          f"PII spans and {len(clean)} clean utterances ({CASES_PATH.relative_to(REPO_ROOT)})")
    print(f"{'kind':<12}{'spans':>7}{'recalled':>10}{'recall':>8}{'kind right':>12}")
    for kind in KINDS:
        total = figures.gold_by_kind.get(kind, 0)
        if total:
            got = figures.recalled_by_kind.get(kind, 0)
            right = figures.kind_right_by_kind.get(kind, 0)
            print(f"{kind:<12}{total:>7}{got:>10}{got / total:>8.3f}{right / total:>12.3f}")
    total = sum(figures.gold_by_kind.values())
    got = sum(figures.recalled_by_kind.values())
    right = sum(figures.kind_right_by_kind.values())
    print(f"{'overall':<12}{total:>7}{got:>10}{figures.recall:>8.3f}{right / max(1, total):>12.3f}")
    print(f"clean utterances altered: {len(figures.clean_altered)}/{figures.clean_total} "
          f"({figures.false_share:.3f})")
    print(f"over-redaction: {figures.outside_redacted}/{figures.outside_words} words outside gold spans "
          f"({figures.over_redaction:.3f})")
    print(f"throughput: {figures.utterances / figures.seconds:,.0f} utterances/s (warm cache)")
    for line in figures.missed:
        print("missed", line)
    for line in figures.clean_altered:
        print("altered", line)


def main() -> None:
    redactor = Redactor()
    report(redactor, "")
    report(redactor, "holdout_")


if __name__ == "__main__":
    main()
