"""The checks: rules compiled once, then run over a lemmatised conversation to give findings and steps.

Checks are pure: a compiled rule set and a conversation in, findings and a script checklist out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from qa.analysis import LemmatizerLike
from qa.matching import Hit, Matcher, Pattern, compile_phrase
from qa.metrics import call_gaps, call_talk, chat_replies, replies
from qa.records import Conversation, Finding, StepResult, Utterance
from qa.ruleset import Rule, RuleSet, Step, Window

COMPANY_PLACEHOLDER = "{company}"
QUOTE_MAX_CHARS = 200
QUOTE_CONTEXT_WORDS = 8
HOLD_AFTER_TOLERANCE_S = 0.5


@dataclass(frozen=True)
class CompiledRuleSet:
    """A rule set with every phrase compiled into one matcher. Build once, share across threads."""

    ruleset: RuleSet
    matcher: Matcher

    @property
    def version(self) -> str:
        return self.ruleset.version

    def rule(self, rule_id: str) -> Rule:
        for r in self.ruleset.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def _expand(phrases: Sequence[str], company_names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for phrase in phrases:
        if COMPANY_PLACEHOLDER in phrase:
            out.extend(phrase.replace(COMPANY_PLACEHOLDER, name) for name in company_names)
        else:
            out.append(phrase)
    return out


def _rule_patterns(rule: Rule, company: Sequence[str], lemmatizer: LemmatizerLike) -> list[Pattern]:
    def comp(phrases: Sequence[str], role: str, max_gap: int, ordered: bool, fuzzy: int | None) -> list[Pattern]:
        return [
            compile_phrase(p, lemmatizer, owner=rule.id, role=role, max_gap=max_gap, ordered=ordered, fuzzy=fuzzy)
            for p in _expand(phrases, company)
        ]

    patterns: list[Pattern] = []
    if rule.match is not None:
        m = rule.match
        patterns += comp(m.phrases, "match", m.max_gap, m.ordered, m.fuzzy)
        if rule.unless is not None:
            patterns += comp(rule.unless.phrases, "unless", max(m.max_gap, 1), m.ordered, m.fuzzy)
    for step in rule.steps or ():
        patterns += comp(step.phrases, f"step:{step.id}", step.max_gap, True, step.fuzzy)
    if rule.silence is not None and rule.silence.hold_phrases:
        patterns += comp(rule.silence.hold_phrases, "hold", 1, True, 90)
    return patterns


def compile_ruleset(ruleset: RuleSet, lemmatizer: LemmatizerLike) -> CompiledRuleSet:
    """Compile every phrase of the active rules with the transcripts' own normaliser and lemmatiser."""
    company = ruleset.settings.company.names
    patterns: list[Pattern] = []
    for rule in ruleset.active_rules():
        try:
            patterns += _rule_patterns(rule, company, lemmatizer)
        except ValueError as exc:
            from qa.errors import RuleFileError

            raise RuleFileError(ruleset.sources.get(rule.id, ruleset.path), str(exc)) from exc
    return CompiledRuleSet(ruleset, Matcher(patterns))


# --- evaluation -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Located:
    utterance_idx: int
    hit: Hit
    start: float
    end: float


def _speaker_ok(rule_speaker: str, speaker: str) -> bool:
    if speaker == "bot":
        return False
    return rule_speaker == "any" or speaker == rule_speaker or speaker == "unknown"


def _in_window(window: Window | None, start: float, end: float, duration: float) -> bool:
    if window is None:
        return True
    if window.first_s is not None:
        return start < window.first_s
    if window.last_s is not None:
        return end >= duration - window.last_s
    return True


def _quote(utterance: Utterance, hit: Hit | None = None) -> str:
    text = utterance.text.strip()
    if hit is None or len(text) <= QUOTE_MAX_CHARS or not utterance.tokens:
        return text
    lo = max(0, hit.first - QUOTE_CONTEXT_WORDS)
    hi = min(len(utterance.tokens), hit.last + QUOTE_CONTEXT_WORDS + 1)
    surfaces: list[str] = []
    for tok in utterance.tokens[lo:hi]:
        if not surfaces or surfaces[-1] != tok.text:
            surfaces.append(tok.text)
    return ("… " if lo > 0 else "") + " ".join(surfaces) + (" …" if hi < len(utterance.tokens) else "")


class _ConversationHits:
    """Matcher hits of one conversation, grouped by (rule id, role)."""

    def __init__(self, conversation: Conversation, matcher: Matcher) -> None:
        self.by_role: dict[tuple[str, str], list[_Located]] = defaultdict(list)
        for idx, utt in enumerate(conversation.utterances):
            if not utt.tokens:
                continue
            for hit in matcher.find(utt.tokens):
                loc = _Located(idx, hit, utt.tokens[hit.first].start, utt.tokens[hit.last].end)
                self.by_role[(hit.pattern.owner, hit.pattern.role)].append(loc)

    def get(self, rule_id: str, role: str) -> list[_Located]:
        return self.by_role.get((rule_id, role), [])


def _duration(conversation: Conversation) -> float:
    end = max((u.end for u in conversation.utterances), default=0.0)
    return max(conversation.duration_s or 0.0, end)


def _finding(rule: Rule, conv: Conversation, loc: _Located, **details: object) -> Finding:
    utt = conv.utterances[loc.utterance_idx]
    matched = " ".join(dict.fromkeys(t.text for t in utt.tokens[loc.hit.first : loc.hit.last + 1]))
    info: dict[str, object] = {"phrase": loc.hit.pattern.phrase, "matched": matched}
    if loc.hit.fuzzy:
        info["fuzzy_score"] = round(loc.hit.score, 1)
    if utt.speaker == "unknown":
        info["speaker_uncertain"] = True
    info.update(details)
    return Finding(
        rule_id=rule.id,
        category=rule.category,
        kind=rule.kind,
        severity=rule.severity,
        speaker=utt.speaker,
        start_s=round(loc.start, 2),
        end_s=round(loc.end, 2),
        quote=_quote(utt, loc.hit),
        message=rule.message,
        utterance_idx=loc.utterance_idx,
        details=info,
    )


def _cancelled(rule: Rule, loc: _Located, unless: list[_Located]) -> bool:
    if rule.unless is None or not unless:
        return False
    scope = rule.unless.scope
    if scope == "conversation":
        return True
    for u in unless:
        if u.utterance_idx != loc.utterance_idx:
            continue
        if scope == "utterance":
            return True
        if u.hit.last >= loc.hit.first - rule.unless.words and u.hit.first <= loc.hit.last:
            return True
    return False


def _phrase_findings(rule: Rule, conv: Conversation, hits: _ConversationHits, duration: float) -> list[Finding]:
    unless = [
        u for u in hits.get(rule.id, "unless") if _speaker_ok(rule.speaker, conv.utterances[u.utterance_idx].speaker)
    ]
    findings: list[Finding] = []
    last_kept: dict[int, int] = {}
    for loc in sorted(hits.get(rule.id, "match"), key=lambda x: (x.utterance_idx, x.hit.first, -x.hit.last)):
        utt = conv.utterances[loc.utterance_idx]
        if not _speaker_ok(rule.speaker, utt.speaker):
            continue
        if not _in_window(rule.window, loc.start, loc.end, duration):
            continue
        if loc.hit.first <= last_kept.get(loc.utterance_idx, -1):
            continue  # overlaps a hit already reported
        if _cancelled(rule, loc, unless):
            continue
        last_kept[loc.utterance_idx] = loc.hit.last
        findings.append(_finding(rule, conv, loc))
    return findings


def _window_text(window: Window | None) -> str:
    if window is None or (window.first_s is None and window.last_s is None):
        return "anywhere"
    if window.first_s is not None:
        return f"in the first {window.first_s:g} s"
    return f"in the last {window.last_s:g} s"


def _script_steps(rule: Rule, conv: Conversation, hits: _ConversationHits, duration: float) -> list[StepResult]:
    results: list[StepResult] = []
    found_at: dict[str, float] = {}
    order_floor = float("-inf")
    for step in rule.steps or ():
        results.append(_step_result(rule, step, conv, hits, duration, found_at, order_floor))
        if step.id in found_at and rule.enforce_order:
            order_floor = found_at[step.id]
    return results


def _step_result(
    rule: Rule,
    step: Step,
    conv: Conversation,
    hits: _ConversationHits,
    duration: float,
    found_at: dict[str, float],
    order_floor: float,
) -> StepResult:
    base = {"rule_id": rule.id, "step": step.id, "title": step.title, "category": step.category,
            "weight": step.weight}
    if step.channels is not None and conv.channel not in step.channels:
        return StepResult(**base, passed=False, applicable=False, reason=f"not for {conv.channel}s")
    floor = order_floor
    if step.applies_after is not None:
        if step.applies_after not in found_at:
            return StepResult(**base, passed=False, applicable=False,
                              reason=f"not applicable: step {step.applies_after!r} not found")
        floor = max(floor, found_at[step.applies_after])
    window = step.window or rule.window
    for loc in sorted(hits.get(rule.id, f"step:{step.id}"), key=lambda x: (x.start, x.utterance_idx)):
        utt = conv.utterances[loc.utterance_idx]
        if not _speaker_ok(rule.speaker, utt.speaker) or loc.start < floor:
            continue
        if not _in_window(window, loc.start, loc.end, duration):
            continue
        found_at[step.id] = loc.start
        return StepResult(**base, passed=True, quote=_quote(utt, loc.hit), start_s=round(loc.start, 2),
                          end_s=round(loc.end, 2), utterance_idx=loc.utterance_idx)
    reason = f"not said by the {rule.speaker} {_window_text(window)}"
    if step.optional:
        return StepResult(**base, passed=False, applicable=False, reason="optional: " + reason)
    return StepResult(**base, passed=False, reason=reason)


def _silence_findings(rule: Rule, conv: Conversation, hits: _ConversationHits) -> list[Finding]:
    params = rule.silence
    assert params is not None
    holds = [
        h for h in hits.get(rule.id, "hold") if conv.utterances[h.utterance_idx].speaker in ("operator", "unknown")
    ]
    findings: list[Finding] = []
    for gap in call_gaps(conv, params.min_gap_s):
        if params.max_gap_s is not None and gap.duration > params.max_gap_s:
            continue
        hold = next(
            (h for h in reversed(holds)
             if gap.start - params.hold_lookback_s <= h.end <= gap.start + HOLD_AFTER_TOLERANCE_S),
            None,
        )
        announced = hold is not None
        if (announced and params.skip_announced) or (not announced and params.only_announced):
            continue
        severity = params.announced_severity if announced and params.announced_severity else rule.severity
        before, after = conv.utterances[gap.before], conv.utterances[gap.after]
        details: dict[str, object] = {"duration_s": round(gap.duration, 2), "hold_announced": announced}
        if hold is not None:
            details["hold_quote"] = _quote(conv.utterances[hold.utterance_idx], hold.hit)
        findings.append(Finding(
            rule_id=rule.id, category=rule.category, kind=rule.kind, severity=severity, speaker="any",
            start_s=round(gap.start, 2), end_s=round(gap.end, 2),
            quote=f"{_tail(before.text)} … [{gap.duration:.1f} s] … {_head(after.text)}",
            message=rule.message, utterance_idx=gap.after, details=details,
        ))
    return findings


def _head(text: str, words: int = 8) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


def _tail(text: str, words: int = 8) -> str:
    parts = text.split()
    return ("… " if len(parts) > words else "") + " ".join(parts[-words:])


def _breaches(value: float | None, above: float | None, below: float | None) -> bool:
    if value is None:
        return False
    return (above is not None and value > above) or (below is not None and value < below)


def _metric_findings(rule: Rule, conv: Conversation, metrics: dict[str, float | None]) -> list[Finding]:
    params = rule.metric
    assert params is not None
    common = {"rule_id": rule.id, "category": rule.category, "kind": rule.kind, "severity": rule.severity,
              "message": rule.message}
    threshold = {"above": params.above} if params.above is not None else {"below": params.below}
    if conv.channel == "chat" and params.name in ("response_s", "first_response_s"):
        findings = []
        for reply in chat_replies(conv.utterances):
            if params.name == "first_response_s" and not reply.first:
                continue
            if _breaches(reply.waited_s, params.above, params.below):
                utt = conv.utterances[reply.utterance_idx]
                findings.append(Finding(
                    **common, speaker=utt.speaker, start_s=round(utt.start - reply.waited_s, 2),
                    end_s=round(utt.start, 2), quote=_quote(utt), utterance_idx=reply.utterance_idx,
                    details={"metric": params.name, "value": round(reply.waited_s, 1), **threshold},
                ))
        return findings
    if params.name == "reply_latency_s":
        if conv.channel == "chat":
            return []
        them = "client" if rule.speaker == "operator" else "operator"
        findings = []
        for reply in replies(call_talk(conv), conv.utterances, rule.speaker, them):
            if _breaches(reply.latency_s, params.above, params.below):
                utt = conv.utterances[reply.utterance_idx] if reply.utterance_idx is not None else None
                findings.append(Finding(
                    **common, speaker=reply.speaker, start_s=round(reply.after, 2), end_s=round(reply.start, 2),
                    quote=_quote(utt) if utt is not None else "", utterance_idx=reply.utterance_idx,
                    details={"metric": params.name, "value": round(reply.latency_s, 2),
                             "after_s": round(reply.after, 2), "reply_s": round(reply.start, 2), **threshold},
                ))
        return findings
    value = metrics.get(params.name)
    if not _breaches(value, params.above, params.below):
        return []
    duration = metrics.get("duration_s") or 0.0
    last = max(range(len(conv.utterances)), key=lambda k: (conv.utterances[k].start, k), default=None)
    return [Finding(
        **common, speaker=rule.speaker, start_s=0.0, end_s=round(duration, 2),
        quote=f"{params.name} = {value}", utterance_idx=last,
        details={"metric": params.name, "value": value, **threshold},
    )]


def run_checks(
    conversation: Conversation, compiled: CompiledRuleSet, metrics: dict[str, float | None]
) -> tuple[list[Finding], list[StepResult]]:
    """Run every active rule over an analysed conversation: findings (time order) and the script checklist."""
    hits = _ConversationHits(conversation, compiled.matcher)
    duration = _duration(conversation)
    findings: list[Finding] = []
    steps: list[StepResult] = []
    for rule in compiled.ruleset.active_rules():
        if conversation.channel not in rule.channels:
            continue
        if rule.kind in ("stopword", "trigger"):
            findings += _phrase_findings(rule, conversation, hits, duration)
        elif rule.kind == "script":
            steps += _script_steps(rule, conversation, hits, duration)
        elif rule.kind == "silence":
            if conversation.channel == "call":
                findings += _silence_findings(rule, conversation, hits)
        elif rule.kind == "metric":
            findings += _metric_findings(rule, conversation, metrics)
    findings.sort(key=lambda f: (f.start_s, f.rule_id))
    return findings, steps
