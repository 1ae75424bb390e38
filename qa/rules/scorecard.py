"""The scorecard: weighted script steps minus penalties, auto-fail, pass mark, flagged and escalation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from qa.records import Finding, Score, StepResult
from qa.rules.ruleset import SEVERITIES, Rule, RuleSet


def _severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def dedupe_findings(findings: Sequence[Finding]) -> list[Finding]:
    """One finding per rule per matched sentence: later hits of the same rule with the same quote fold into the
    first; their phrases are listed in ``details["also_matched"]``.

    A trigger (an escalation signal) folds within the same turn, or a turn overlapping it in time (both channels
    heard one sentence): «жалоба» and «претензия» in one sentence are one complaint. A stop-word is a penalty per
    use, so it folds only where the matched spans overlap: two stop-words in one turn stay two cards."""
    kept: list[Finding] = []
    by_quote: dict[tuple[str, str], list[int]] = {}  # (rule, quote) -> indexes in kept: only those can fold
    for f in findings:
        candidates = by_quote.setdefault((f.rule_id, f.quote), [])
        for i in candidates:
            k = kept[i]
            overlap = f.start_s < k.end_s and k.start_s < f.end_s
            same_turn = f.utterance_idx is not None and f.utterance_idx == k.utterance_idx
            if f.kind == "trigger":
                overlap = overlap or same_turn
            if overlap:
                also = list(k.details.get("also_matched", ()))
                phrase = f.details.get("phrase")
                if phrase and phrase != k.details.get("phrase") and phrase not in also:
                    also.append(phrase)
                if also:
                    kept[i] = replace(k, details={**k.details, "also_matched": also})
                break
        else:
            candidates.append(len(kept))
            kept.append(f)
    return kept


def speaker_uncertain(finding: Finding, ruleset: RuleSet) -> bool:
    """An operator rule's finding on a turn whose speaker is unknown (a mono call): not the operator's for sure."""
    rule = next((r for r in ruleset.rules if r.id == finding.rule_id), None)
    return finding.speaker == "unknown" and rule is not None and rule.speaker == "operator"


def unheard(finding: Finding) -> bool:
    """A finding whose matched words may be the prompt read back (:mod:`qa.rules.evidence`): shown as unverified,
    never deducted, never an escalation."""
    return bool(finding.details.get("unverified"))


def _uncertain(finding: Finding, rules: dict[str, Rule]) -> bool:
    """``speaker_uncertain`` with the rules by id (the first rule of an id, as there)."""
    if finding.speaker != "unknown":
        return False
    rule = rules.get(finding.rule_id)
    return rule is not None and rule.speaker == "operator"


def _first_by_id(ruleset: RuleSet) -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for r in ruleset.rules:
        rules.setdefault(r.id, r)
    return rules


def penalties_by_rule(findings: Sequence[Finding], ruleset: RuleSet) -> dict[str, float]:
    """Points off per rule: each finding's penalty (rule's own, else by severity), capped per rule."""
    settings = ruleset.settings
    rules = {r.id: r for r in ruleset.rules}
    first = _first_by_id(ruleset)
    raw: dict[str, float] = defaultdict(float)
    for f in findings:
        rule = rules.get(f.rule_id)
        if rule is None or rule.status != "active" or _uncertain(f, first) or unheard(f):
            continue
        if rule.penalty is None and rule.kind not in settings.penalised_kinds:
            continue
        raw[f.rule_id] += rule.penalty if rule.penalty is not None else settings.penalties.get(f.severity, 0.0)
    capped = {}
    for rule_id, points in raw.items():
        cap = rules[rule_id].max_penalty
        capped[rule_id] = min(points, cap if cap is not None else settings.max_penalty_per_rule)
    return {k: v for k, v in capped.items() if v > 0}


def score(findings: Sequence[Finding], steps: Sequence[StepResult], ruleset: RuleSet) -> Score:
    """Score one conversation from its findings and script checklist."""
    settings = ruleset.settings
    rules = {r.id: r for r in ruleset.rules}
    counted = [s for s in steps if s.applicable and s.weight > 0]
    weight = sum(s.weight for s in counted)
    base = 100.0 * sum(s.weight for s in counted if s.passed) / weight if weight > 0 else 100.0
    penalties = penalties_by_rule(findings, ruleset)
    total = round(min(100.0, max(0.0, base - sum(penalties.values()))), 1)

    active = [f for f in findings if rules.get(f.rule_id) is not None and rules[f.rule_id].status == "active"]
    echoes = [f for f in active if unheard(f)]
    live = [f for f in active if not unheard(f)]
    unverified_steps = [s for s in counted if s.unverified]
    first = _first_by_id(ruleset)
    uncertain = [f for f in live if _uncertain(f, first)]
    auto_fail_hits = sorted({f.rule_id for f in live if f.rule_id in settings.auto_fail and f not in uncertain})
    uncertain_auto_fail = sorted(
        {f.rule_id for f in uncertain if f.rule_id in settings.auto_fail} - set(auto_fail_hits)
    )
    auto_failed = bool(auto_fail_hits)
    passed = total >= settings.pass_mark and not auto_failed
    escalation = any(f.category in settings.escalation_categories for f in live)

    reasons: list[str] = []
    flag = settings.flag
    if flag.below_pass_mark and total < settings.pass_mark:
        reasons.append(f"score {total:g} < {settings.pass_mark:g}")
    if flag.auto_fail and auto_failed:
        reasons.append("auto-fail: " + ", ".join(auto_fail_hits))
    flagged_categories = sorted({f.rule_id for f in live if f.category in flag.categories})
    if flagged_categories:
        reasons.append("category: " + ", ".join(flagged_categories))
    if flag.min_severity is not None:
        floor = _severity_rank(flag.min_severity)
        severe = sorted({f.rule_id for f in live if _severity_rank(f.severity) >= floor})
        severe = [r for r in severe if r not in flagged_categories]
        if severe:
            reasons.append(f"severity ≥ {flag.min_severity}: " + ", ".join(severe))
    if uncertain:
        rules_text = ", ".join(sorted({f.rule_id for f in uncertain}))
        reasons.append(f"speaker unknown: {len(uncertain)} operator finding(s) not deducted ({rules_text})")
    if uncertain_auto_fail:
        reasons.append("auto-fail uncertain (speaker unknown): " + ", ".join(uncertain_auto_fail))
    if echoes:
        rules_text = ", ".join(sorted({f.rule_id for f in echoes}))
        reasons.append(f"unverified: {len(echoes)} finding(s) heard only in an echo of the prompt, not counted "
                       f"({rules_text})")
    if unverified_steps:
        reasons.append(f"unverified: {len(unverified_steps)} step(s) said only where the speaker is unknown, not "
                       f"passed ({', '.join(s.step for s in unverified_steps)})")
    for s in counted:
        if not s.passed and not s.unverified:
            reasons.append(f"missed step: {s.step}")
    flagged = any(not r.startswith("missed step") for r in reasons)
    return Score(total=total, passed=passed, flagged=flagged, escalation=escalation, auto_failed=auto_failed,
                 reasons=tuple(reasons), speaker_uncertain=len(uncertain), unverified_steps=len(unverified_steps),
                 unverified_findings=len(uncertain) + len(echoes))
