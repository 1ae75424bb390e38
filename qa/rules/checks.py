"""The checks: a compiled rule set (:mod:`qa.rules.compiled`) run over a lemmatised conversation to give findings
and the script checklist.

Checks are pure: a compiled rule set and a conversation in, findings and a script checklist out. One module
because every rule kind shares the located hits, windows, quotes and cancellations of one conversation.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

from qa.record_maker import maker
from qa.records import Conversation, Finding, StepResult, Utterance
from qa.rules.brands import Brand, fused_brand, named_organisation
from qa.rules.compiled import COMPANY_PLACEHOLDER, CompiledRuleSet
from qa.rules.evidence import PromptEvidence
from qa.rules.matching import Hit, Matcher, Pattern
from qa.rules.metrics import CallTimeline, call_timeline, chat_replies, replies
from qa.rules.ruleset import Rule, Step, Window
from qa.text.names import name_after, own_forms, same_person
from qa.text.negation import denial
from qa.text.normalize import normalize_text

QUOTE_MAX_CHARS = 200
QUOTE_CONTEXT_WORDS = 8
HOLD_AFTER_TOLERANCE_S = 0.5


# --- evaluation -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Located:
    utterance_idx: int
    hit: Hit
    start: float
    end: float


_located = maker(_Located)  # built slot by slot: a conversation has hundreds of hits


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
        self.conversation = conversation
        self.prompt = PromptEvidence.of(conversation)
        for idx, utt in enumerate(conversation.utterances):
            if not utt.tokens:
                continue
            for hit in matcher.find(utt.tokens):
                loc = _located(idx, hit, utt.tokens[hit.first].start, utt.tokens[hit.last].end)
                self.by_role[(hit.pattern.owner, hit.pattern.role)].append(loc)

    def get(self, rule_id: str, role: str) -> list[_Located]:
        return self.by_role.get((rule_id, role), [])

    def unheard(self, loc: _Located) -> str | None:
        """Why a hit's words may be the prompt read back (:mod:`qa.rules.evidence`), else None."""
        if self.prompt is None:
            return None
        return self.prompt.unheard(self.conversation.utterances[loc.utterance_idx], loc.hit.first, loc.hit.last)


def _duration(conversation: Conversation) -> float:
    end = max((u.end for u in conversation.utterances), default=0.0)
    return max(conversation.duration_s or 0.0, end)


def _finding(rule: Rule, conv: Conversation, loc: _Located, **details: object) -> Finding:
    utt = conv.utterances[loc.utterance_idx]
    matched = " ".join(dict.fromkeys(t.text for t in utt.tokens[loc.hit.first : loc.hit.last + 1]))
    info: dict[str, object] = {"phrase": loc.hit.pattern.phrase, "matched": matched}
    if loc.hit.fuzzy:
        info["fuzzy_score"] = round(loc.hit.score, 1)
    if loc.hit.via != "words":
        info["match"] = loc.hit.via
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
        if rule.negation_scope and denial(utt.text, utt.tokens, loc.hit.first, loc.hit.last) is not None:
            continue
        last_kept[loc.utterance_idx] = loc.hit.last
        echo = hits.unheard(loc)
        findings.append(_finding(rule, conv, loc, **({"unverified": f"prompt echo: {echo}"} if echo else {})))
    return findings


def _window_text(window: Window | None) -> str:
    if window is None or (window.first_s is None and window.last_s is None):
        return "anywhere"
    if window.first_s is not None:
        return f"in the first {window.first_s:g} s"
    return f"in the last {window.last_s:g} s"


def _script_steps(
    rule: Rule, conv: Conversation, hits: _ConversationHits, duration: float, compiled: CompiledRuleSet
) -> tuple[list[StepResult], list[Finding]]:
    results: list[StepResult] = []
    findings: list[Finding] = []
    found_at: dict[str, float] = {}
    order_floor = float("-inf")
    for step in rule.steps or ():
        results.append(_step_result(rule, step, conv, hits, duration, found_at, order_floor, compiled, findings))
        if step.id in found_at and rule.enforce_order:
            order_floor = found_at[step.id]
    return results, findings


def _step_result(
    rule: Rule,
    step: Step,
    conv: Conversation,
    hits: _ConversationHits,
    duration: float,
    found_at: dict[str, float],
    order_floor: float,
    compiled: CompiledRuleSet | None = None,
    findings: list[Finding] | None = None,
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

    def usable(loc: _Located) -> bool:
        utt = conv.utterances[loc.utterance_idx]
        return _speaker_ok(rule.speaker, utt.speaker) and loc.start >= floor and _in_window(
            window, loc.start, loc.end, duration)

    def passed(loc: _Located, reason: str = "") -> StepResult:
        found_at[step.id] = loc.start
        return StepResult(**base, passed=True, quote=_quote(conv.utterances[loc.utterance_idx], loc.hit),
                          start_s=round(loc.start, 2), end_s=round(loc.end, 2), utterance_idx=loc.utterance_idx,
                          reason=reason)

    def judged(known_only: bool, found: list[Finding]) -> StepResult:
        def use(loc: _Located) -> bool:
            speaker = conv.utterances[loc.utterance_idx].speaker
            return usable(loc) and not (known_only and speaker == "unknown")

        located = [x for x in sorted(hits.get(rule.id, f"step:{step.id}"), key=lambda x: (x.start, x.utterance_idx))
                   if use(x)]
        if compiled is not None and any(COMPANY_PLACEHOLDER in p for p in step.phrases):
            return _company_step(rule, step, conv, located, compiled, found, passed, use, base, window, hits)
        if compiled is not None and step.name_cues:
            return _introduction_step(rule, step, conv, hits, located, compiled, passed, use, base, window)
        for loc in located:
            return passed(loc)
        return _not_found(rule, step, base, window)

    sure: list[Finding] = []
    result = judged(True, sure)
    if rule.speaker != "any" and not result.passed and any(u.speaker == "unknown" for u in conv.utterances):
        unsure: list[Finding] = []
        maybe = judged(False, unsure)
        if maybe.passed:  # said, but only by a voice whose speaker is unknown: not passed, unverified
            found_at.pop(step.id, None)
            result = replace(maybe, passed=False, unverified=f"speaker unknown: «{maybe.quote}» may not be the "
                             f"{rule.speaker}'s", reason=maybe.reason or "speaker unknown")
            sure = unsure
    if findings is not None:
        findings.extend(sure)
    return result


def _not_found(rule: Rule, step: Step, base: dict[str, object], window: Window | None, why: str = "") -> StepResult:
    reason = why or f"not said by the {rule.speaker} {_window_text(window)}"
    if step.optional:
        return StepResult(**base, passed=False, applicable=False, reason="optional: " + reason)  # type: ignore[arg-type]
    return StepResult(**base, passed=False, reason=reason)  # type: ignore[arg-type]


def _says(text: str, name: str) -> bool:
    return f" {normalize_text(name)} " in f" {normalize_text(text)} "


def _company_step(rule, step, conv, located, compiled, findings, passed, usable, base, window,
                  hits: _ConversationHits | None = None) -> StepResult:
    """The company step: the expected brand named passes; another configured brand is a finding. A brand heard only
    in an echo of the prompt (:mod:`qa.rules.evidence`) does neither: the step is then unverified."""
    echoes: list[tuple[_Located, str]] = []
    if hits is not None:
        heard_locs = []
        for loc in located:
            echo = hits.unheard(loc)
            (echoes.append((loc, echo)) if echo else heard_locs.append(loc))
        located = heard_locs
    book = compiled.brands
    expected: Brand | None = book.expected(conv) if book is not None else None
    known = {b.key for b in book.brands} if book is not None else set()
    wrong: list[tuple[_Located, str]] = []
    result: StepResult | None = None
    if expected is not None and expected.key not in known:  # a sidecar's own company, not in the rule set
        for idx, utt in enumerate(conv.utterances):
            if any(_says(utt.text, n) for n in expected.names) and utt.tokens:
                loc = _Located(idx, Hit(Pattern(rule.id, f"step:{step.id}", expected.names[0], ()), 0,
                                        len(utt.tokens) - 1, 100.0), utt.start, utt.end)
                if usable(loc):
                    result = passed(loc, f"brand heard: «{expected.names[0]}»")
                    break
    for loc in located:
        name = compiled.phrase_brand.get(loc.hit.pattern.phrase, "")
        heard = " ".join(dict.fromkeys(
            t.text.strip(",.!?«»") for t in conv.utterances[loc.utterance_idx].tokens[loc.hit.first:loc.hit.last + 1]))
        if expected is None or normalize_text(name) in {normalize_text(n) for n in expected.names}:
            if result is None:
                result = passed(loc, f"brand heard: «{heard}»")
        else:
            wrong.append((loc, heard))
    for loc, heard in wrong:
        if findings is not None:
            findings.append(_finding(rule, conv, loc, step=step.id, brand_heard=heard,
                                     brand_expected=expected.names[0] if expected else None,
                                     problem="named another brand"))
    if result is not None:
        return result
    if expected is not None and not wrong:  # the brand fused or in Latin: «Телекомплюз», «Telecom Plus»
        for idx, utt in enumerate(conv.utterances):
            found = fused_brand(utt.tokens, expected.names)
            if found is None:
                continue
            first, last, heard = found
            loc = _Located(idx, Hit(Pattern(rule.id, f"step:{step.id}", expected.names[0], ()), first, last, 90.0),
                           utt.tokens[first].start, utt.tokens[last].end)
            if usable(loc) and (hits is None or not hits.unheard(loc)):
                return passed(loc, f"brand heard: «{heard}»")
    if echoes and not wrong:
        loc, echo = echoes[0]
        return StepResult(**base, passed=False, quote=_quote(conv.utterances[loc.utterance_idx], loc.hit),
                          start_s=round(loc.start, 2), end_s=round(loc.end, 2), utterance_idx=loc.utterance_idx,
                          reason="brand heard only in an echo of the prompt", unverified=f"prompt echo: {echo}")
    if wrong:
        return _not_found(rule, step, base, window,
                          f"named another brand «{wrong[0][1]}», not «{expected.names[0]}»")  # type: ignore[union-attr]
    if expected is None and book is not None and book.org_types:
        for idx, utt in enumerate(conv.utterances):
            found = named_organisation(utt.tokens, book.org_types)
            if found is None:
                continue
            first, last, name = found
            loc = _Located(idx, Hit(Pattern(rule.id, f"step:{step.id}", name, ()), first, last, 100.0),
                           utt.tokens[first].start, utt.tokens[last].end)
            if usable(loc):
                return passed(loc, f"organisation heard: «{name}»")
    if expected is not None:
        return _not_found(rule, step, base, window,
                          f"«{expected.names[0]}» not said by the {rule.speaker} {_window_text(window)}")
    return _not_found(rule, step, base, window)


def _introduction_step(rule, step, conv, hits, located, compiled, passed, usable, base, window) -> StepResult:
    """The introduction step: a cue phrase, or a role noun / cue followed by a first name; the sidecar's
    ``operator_name`` must be the name heard (diminutives count)."""
    own = conv.metadata.get("operator_name")
    own = own if isinstance(own, str) and own.strip() else None
    cues = [x for x in hits.get(rule.id, f"cue:{step.id}") if usable(x)]
    candidates = sorted([(x, True) for x in located] + [(x, False) for x in cues],
                        key=lambda c: (c[0].start, c[0].utterance_idx))
    other: str | None = None
    unverified: _Located | None = None
    forms = own_forms(own, compiled.diminutives)
    for loc, is_phrase in candidates:
        utt = conv.utterances[loc.utterance_idx]
        per = compiled.persons.person_words(utt.text) if compiled.persons is not None else frozenset()
        name = name_after(utt.tokens, loc.hit.last, compiled.tagger, forms, per)
        if name is None:
            if is_phrase and unverified is None:
                unverified = loc
            continue
        if own is not None and not same_person(name.lemma, own, compiled.diminutives) and not same_person(
                name.surface, own, compiled.diminutives):
            other = other or name.surface
            continue
        return passed(loc, f"name heard: «{name.surface}»")
    if other is not None:
        return _not_found(rule, step, base, window, f"introduced as «{other}», not «{own}»")
    if unverified is not None:
        return passed(unverified, "name not heard" if own is not None else "")
    return _not_found(rule, step, base, window)


def _silence_findings(rule: Rule, conv: Conversation, hits: _ConversationHits,
                      timeline: CallTimeline) -> list[Finding]:
    params = rule.silence
    assert params is not None
    holds = [
        h for h in hits.get(rule.id, "hold") if conv.utterances[h.utterance_idx].speaker in ("operator", "unknown")
    ]
    findings: list[Finding] = []
    for gap in timeline.gaps_of_at_least(params.min_gap_s):
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


def _metric_findings(rule: Rule, conv: Conversation, metrics: dict[str, float | None],
                     timeline: CallTimeline | None) -> list[Finding]:
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
        if timeline is None:  # a chat (a call always has its timeline here)
            return []
        them = "client" if rule.speaker == "operator" else "operator"
        found = timeline.replies.get((rule.speaker, them))  # operator↔client are worked out; any other pair here
        findings = []
        for reply in found if found is not None else replies(timeline.talk, conv.utterances, rule.speaker, them):
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
    conversation: Conversation, compiled: CompiledRuleSet, metrics: dict[str, float | None],
    timeline: CallTimeline | None = None,
) -> tuple[list[Finding], list[StepResult]]:
    """Run every active rule over an analysed conversation: findings (time order) and the script checklist
    (``timeline``: a call's :func:`qa.rules.metrics.call_timeline`, worked out here when not given)."""
    hits = _ConversationHits(conversation, compiled.matcher_for(conversation.channel))
    if timeline is None and conversation.channel != "chat":
        timeline = call_timeline(conversation)
    duration = _duration(conversation)
    findings: list[Finding] = []
    steps: list[StepResult] = []
    for rule in compiled.ruleset.active_rules():
        if conversation.channel not in rule.channels:
            continue
        if rule.kind in ("stopword", "trigger"):
            findings += _phrase_findings(rule, conversation, hits, duration)
        elif rule.kind == "script":
            rule_steps, step_findings = _script_steps(rule, conversation, hits, duration, compiled)
            steps += rule_steps
            findings += step_findings
        elif rule.kind == "silence":
            if timeline is not None and conversation.channel == "call":
                findings += _silence_findings(rule, conversation, hits, timeline)
        elif rule.kind == "metric":
            findings += _metric_findings(rule, conversation, metrics, timeline)
    findings.sort(key=lambda f: (f.start_s, f.rule_id))
    return findings, steps
