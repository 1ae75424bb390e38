"""A rule set compiled once for matching: every phrase of its active rules (company names expanded) in one
:class:`~qa.rules.matching.Matcher`, one matcher per channel, the brand book and the name tagger. Build once per
rule set and share across threads; :mod:`qa.rules.checks` runs it over conversations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import get_args

from qa.rules.brands import BrandBook, brand_book
from qa.rules.matching import Matcher, Pattern, compile_phrase
from qa.rules.ruleset import ChannelName, Rule, RuleSet
from qa.text.analysis import LemmatizerLike
from qa.text.names import NameTagger, PersonTagger, load_diminutives

COMPANY_PLACEHOLDER = "{company}"


@dataclass(frozen=True)
class CompiledRuleSet:
    """A rule set with every phrase compiled into one matcher. Build once, share across threads."""

    ruleset: RuleSet
    matcher: Matcher
    brands: BrandBook | None = None
    phrase_brand: dict[str, str] = field(default_factory=dict)  # expanded phrase -> brand name in it
    tagger: NameTagger | None = None
    diminutives: dict[str, frozenset[str]] = field(default_factory=dict)
    persons: PersonTagger | None = None  # natasha PER for introductions (off by default: docs/accuracy.md)
    channel_matchers: dict[str, Matcher] = field(default_factory=dict)  # the patterns that can count in a channel

    @property
    def version(self) -> str:
        return self.ruleset.version

    def matcher_for(self, channel: str) -> Matcher:
        """The matcher of the rules and steps that apply to ``channel`` (all patterns where none was built)."""
        return self.channel_matchers.get(channel, self.matcher)

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
    def comp(phrases: Sequence[str], role: str, max_gap: int, ordered: bool, fuzzy: int | None,
             phrase_fuzzy: int | None = None) -> list[Pattern]:
        return [
            compile_phrase(p, lemmatizer, owner=rule.id, role=role, max_gap=max_gap, ordered=ordered, fuzzy=fuzzy,
                           phrase_fuzzy=phrase_fuzzy)
            for p in _expand(phrases, company)
        ]

    patterns: list[Pattern] = []
    if rule.match is not None:
        m = rule.match
        patterns += comp(m.phrases, "match", m.max_gap, m.ordered, m.fuzzy, m.phrase_fuzzy)
        if rule.unless is not None:
            patterns += comp(rule.unless.phrases, "unless", max(m.max_gap, 1), m.ordered, m.fuzzy)
    for step in rule.steps or ():
        patterns += comp(step.phrases, f"step:{step.id}", step.max_gap, True, step.fuzzy)
        if step.name_cues:
            patterns += comp(step.name_cues, f"cue:{step.id}", 0, True, step.fuzzy)
    if rule.silence is not None and rule.silence.hold_phrases:
        patterns += comp(rule.silence.hold_phrases, "hold", 1, True, 90)
    return patterns


def compile_ruleset(ruleset: RuleSet, lemmatizer: LemmatizerLike,
                    persons: PersonTagger | None = None) -> CompiledRuleSet:
    """Compile every phrase of the active rules with the transcripts' own normaliser and lemmatiser
    (``persons``: natasha's PER tagger for introductions, built once by the caller)."""
    book = brand_book(ruleset.settings.company, lemmatizer)
    name_brand = book.brand_of_phrase()
    company = list(name_brand)
    phrase_brand: dict[str, str] = {}
    patterns: list[Pattern] = []
    for rule in ruleset.active_rules():
        try:
            patterns += _rule_patterns(rule, company, lemmatizer)
        except ValueError as exc:
            from qa.errors import RuleFileError

            raise RuleFileError(ruleset.sources.get(rule.id, ruleset.path), str(exc)) from exc
        for step in rule.steps or ():
            for phrase in step.phrases:
                if COMPANY_PLACEHOLDER in phrase:
                    for name in name_brand:
                        phrase_brand.setdefault(phrase.replace(COMPANY_PLACEHOLDER, name), name)
    tagger = lemmatizer if hasattr(lemmatizer, "name_tags") else None
    return CompiledRuleSet(ruleset, Matcher(patterns), book, phrase_brand, tagger,  # type: ignore[arg-type]
                           load_diminutives(), persons, _channel_matchers(ruleset, patterns))


def _channel_matchers(ruleset: RuleSet, patterns: Sequence[Pattern]) -> dict[str, Matcher]:
    """One matcher per channel over the same compiled patterns, without those of rules and steps that never
    count there (a chat-only script's cues would otherwise be matched, and dropped, in every call)."""
    matchers: dict[str, Matcher] = {}
    for channel in get_args(ChannelName):
        wanted: set[tuple[str, str]] = set()
        for rule in ruleset.active_rules():
            if channel not in rule.channels:
                continue
            wanted.update((rule.id, role) for role in ("match", "unless", "hold"))
            for step in rule.steps or ():
                if step.channels is None or channel in step.channels:
                    wanted.update({(rule.id, f"step:{step.id}"), (rule.id, f"cue:{step.id}")})
        matchers[channel] = Matcher(p for p in patterns if (p.owner, p.role) in wanted)
    return matchers
