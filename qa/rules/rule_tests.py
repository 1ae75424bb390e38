"""Rule tests: each rule's ``<id>.test.txt`` dialogues with ``# hit`` / ``# ok`` annotations (see docs/rules.md).

Run ``python -m qa.rules.rule_tests DIR`` or ``qa check-rules DIR``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import RuleFileError
from qa.records import Conversation, Utterance
from qa.rules.scoring import Scorer, build_scorer

SECONDS_PER_WORD = 0.4
_TIME = r"\d+(?::\d+)?(?:\.\d+)?"
_LINE = re.compile(
    rf"^(?P<start>{_TIME})(?:\s*-\s*(?P<end>{_TIME}))?\s+(?P<speaker>operator|client|bot|unknown)\s*:\s*(?P<text>.*)$"
)
_ANNOTATION = re.compile(r"^#\s*(?P<kind>hit|ok|missing|channel)\s*(?::\s*(?P<arg>\S+))?\s*$")


@dataclass
class Expectation:
    kind: str  # hit | ok | missing
    utterance_idx: int | None
    step: str | None
    line: int


@dataclass
class Dialogue:
    channel: str
    utterances: list[Utterance] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    first_line: int = 1


@dataclass
class RuleTestResult:
    """Outcome of one rule's test file."""

    rule_id: str
    path: Path
    hits: int = 0
    oks: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _seconds(value: str) -> float:
    if ":" in value:
        minutes, seconds = value.split(":", 1)
        return int(minutes) * 60 + float(seconds)
    return float(value)


def parse_test_file(path: Path) -> list[Dialogue]:
    """Parse a rule test file into dialogues with their expectations."""
    dialogues = [Dialogue(channel="call")]
    pending: list[tuple[str, str | None, int]] = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        current = dialogues[-1]
        if not line:
            continue
        if line == "---":
            if pending:
                raise RuleFileError(path, "annotation not followed by a dialogue line", line=pending[-1][2])
            dialogues.append(Dialogue(channel="call", first_line=lineno + 1))
            continue
        if line.startswith("#"):
            m = _ANNOTATION.match(line)
            if not m:
                continue  # a comment
            kind, arg = m["kind"], m["arg"]
            if kind == "channel":
                if arg not in ("call", "chat"):
                    raise RuleFileError(path, "channel must be call or chat", line=lineno, field="channel")
                current.channel = arg
            elif kind == "missing":
                if not arg:
                    raise RuleFileError(path, "'# missing:' needs a step id", line=lineno)
                current.expectations.append(Expectation("missing", None, arg, lineno))
            else:
                pending.append((kind, arg, lineno))
            continue
        m = _LINE.match(line)
        if not m:
            raise RuleFileError(path, "expected 'START[-END] SPEAKER: TEXT'", line=lineno)
        start = _seconds(m["start"])
        text = m["text"].strip()
        end = _seconds(m["end"]) if m["end"] else start + SECONDS_PER_WORD * max(1, len(text.split()))
        if end < start:
            raise RuleFileError(path, "end time before start time", line=lineno)
        current.utterances.append(Utterance(speaker=m["speaker"], start=start, end=end, text=text))
        idx = len(current.utterances) - 1
        for kind, arg, ann_line in pending:
            current.expectations.append(Expectation(kind, idx, arg, ann_line))
        pending = []
    if pending:
        raise RuleFileError(path, "annotation not followed by a dialogue line", line=pending[-1][2])
    return [d for d in dialogues if d.utterances]


def run_rule_test(rule_id: str, path: Path, scorer: Scorer) -> RuleTestResult:
    """Run one rule's test file against the compiled rule set."""
    result = RuleTestResult(rule_id, path)
    if not path.is_file():
        result.failures.append(f"{path}: missing test file")
        return result
    rule = scorer.rules.rule(rule_id)
    for n, dialogue in enumerate(parse_test_file(path), start=1):
        conv = Conversation(
            conversation_id=f"{rule_id}-test-{n}",
            channel=dialogue.channel,  # type: ignore[arg-type]
            source_path=str(path),
            content_sha256="",
            utterances=dialogue.utterances,
            speaker_mode="transcript" if dialogue.channel == "call" else "chat",
        )
        scored = scorer.score(conv)
        found = {f.utterance_idx for f in scored.findings if f.rule_id == rule_id}
        steps = [s for s in scored.steps if s.rule_id == rule_id]
        for exp in dialogue.expectations:
            where = f"{path}:{exp.line}"
            line_text = conv.utterances[exp.utterance_idx].text if exp.utterance_idx is not None else ""
            if exp.kind == "missing":
                step = next((s for s in steps if s.step == exp.step), None)
                if step is None:
                    result.failures.append(f"{where}: no step {exp.step!r} in rule {rule_id}")
                elif step.passed:
                    result.failures.append(f"{where}: step {exp.step!r} passed on «{step.quote}», expected missing")
                else:
                    result.oks += 1
                continue
            if rule.kind == "script":
                evidence = {s.step for s in steps if s.passed and s.utterance_idx == exp.utterance_idx}
                if exp.step is not None and exp.step not in {s.step for s in steps}:
                    result.failures.append(f"{where}: no step {exp.step!r} in rule {rule_id}")
                    continue
                hit = exp.step in evidence if exp.step else bool(evidence)
            else:
                hit = exp.utterance_idx in found
            if exp.kind == "hit":
                result.hits += 1
                if not hit:
                    result.failures.append(f"{where}: expected a hit{_step(exp)} on «{line_text}», got none")
            else:
                result.oks += 1
                if hit:
                    result.failures.append(f"{where}: expected no hit{_step(exp)} on «{line_text}», got one")
    if result.hits == 0:
        result.failures.append(f"{path}: no '# hit' case")
    if result.oks == 0:
        result.failures.append(f"{path}: no '# ok' case")
    return result


def _step(exp: Expectation) -> str:
    return f" of step {exp.step!r}" if exp.step else ""


def run_rule_tests(rules_dir: str | Path, scorer: Scorer | None = None) -> list[RuleTestResult]:
    """Run the tests of every rule in a rule set folder (disabled rules excepted)."""
    rules_dir = Path(rules_dir)
    scorer = scorer or build_scorer(rules_dir)
    return [
        run_rule_test(rule.id, rules_dir / f"{rule.id}.test.txt", scorer)
        for rule in scorer.rules.ruleset.active_rules()
    ]


def main(argv: list[str] | None = None) -> int:
    """Print each rule's test outcome; exit 1 if any failed."""
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0] if args else "scripts_rules")
    try:
        results = run_rule_tests(folder)
    except RuleFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bad = 0
    for r in results:
        print(f"{'ok  ' if r.ok else 'FAIL'} {r.rule_id}: {r.hits} hit, {r.oks} ok")
        for failure in r.failures:
            print(f"     {failure}")
        bad += not r.ok
    print(f"{len(results) - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
