"""Russian wording of what the review page and the HTML export show: metric, category, severity, verdict,
speaker and channel names, rule and step titles instead of ids, and flag reasons and script evidence (stored in
English by :mod:`qa.rules.scorecard` and :mod:`qa.rules.checks`) translated by the patterns of
``qa/review/data/web_labels.json``.

Every Russian word lives in that file; this module only looks them up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any


@lru_cache(maxsize=1)
def table() -> dict[str, Any]:
    """The label file, read once."""
    return json.loads((resources.files("qa.review") / "data" / "web_labels.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _phrases() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(pattern), template) for pattern, template in table()["phrases"])


def _lookup(group: str, key: str | None, default: str = "—") -> str:
    if key is None or key == "":
        return default
    return table()[group].get(key, key)


def store_problem(message: str) -> str:
    """What a page says when the store failed (``message`` is the :class:`qa.store.StoreError` text, which
    names servers and folders and goes to the log, not to the reader)."""
    errors = table()["store_errors"]
    if "unreachable" in message:
        return errors["unreachable"]
    if "is full" in message:
        return errors["full"]
    return errors["other"]


def metric(key: str) -> str:
    """``operator_talk_s`` → «Оператор говорил, с» (the key itself when unknown)."""
    return _lookup("metrics", key)


def category(key: str | None) -> str:
    return _lookup("categories", key)


def severity(key: str | None) -> str:
    return _lookup("severities", key)


def verdict(key: str | None) -> str:
    return _lookup("verdicts", key, "")


def speaker(key: str | None) -> str:
    return _lookup("speakers", key)


def channel(key: str | None) -> str:
    return _lookup("channels", key)


def field_name(key: str | None) -> str:
    """A conversation field (``operator_id``, ``src``…) as the page names it."""
    return _lookup("fields", key)


def field_source(key: str | None) -> str:
    """Where a field came from (``call_log`` → «журнал звонков АТС»)."""
    return _lookup("field_sources", key)


def direction(key: str | None) -> str:
    """``inbound`` → «входящий» (a PBX's own word as it is)."""
    return _lookup("directions", key)


def redecode_reason(key: str | None) -> str:
    """Why a channel was decoded again without the prompt (``unsure_words`` → «неуверенно распознанные слова»)."""
    return _lookup("redecode_reasons", key)


def channel_name(key: str | None) -> str:
    """A channel of a recording (``0``, ``left``, ``mono``) as the page names it."""
    return _lookup("channel_names", key)


@dataclass(frozen=True)
class Titles:
    """Rule id → rule title, and script step id (``greeting``, or ``script_inbound.greeting``) → step title."""

    rules: Mapping[str, str] = field(default_factory=dict)
    steps: Mapping[str, str] = field(default_factory=dict)

    def rule(self, rule_id: str | None) -> str:
        """The rule's title; a good example's ``rule.step`` gives the step's; the id when unknown."""
        if not rule_id:
            return "—"
        return self.rules.get(rule_id) or self.steps.get(rule_id) or rule_id

    def step(self, step_id: str | None) -> str:
        return self.steps.get(step_id or "", step_id or "—")


def load_titles(rules_dir: str | Path | None) -> Titles:
    """Titles from a rule set folder; empty (ids shown as they are) when the folder cannot be read."""
    from qa.errors import RuleFileError
    from qa.rules.ruleset import load_ruleset

    if rules_dir is None:
        return Titles()
    try:
        ruleset = load_ruleset(rules_dir)
    except (RuleFileError, OSError):
        return Titles()
    rules: dict[str, str] = {}
    steps: dict[str, str] = {}
    for rule in ruleset.rules:
        rules[rule.id] = rule.title
        for step in rule.steps or ():
            steps[f"{rule.id}.{step.id}"] = step.title
            steps.setdefault(step.id, step.title)
    return Titles(rules, steps)


def phrase(text: str | None, titles: Titles = Titles(), sentence: bool = True) -> str:
    """A stored English reason or piece of evidence in Russian («missed step: farewell» → «Пропущен шаг скрипта:
    Попрощался»); text no pattern matches is returned as it is. ``sentence`` capitalises a translated phrase
    (off for quotes, whose first word is the speaker's)."""
    if not text:
        return ""
    for pattern, template in _phrases():
        found = pattern.match(text)
        if found:
            out = template.format(**{k: _part(k, v or "", titles) for k, v in found.groupdict().items()})
            return out[:1].upper() + out[1:] if sentence else out
    return text


def quote(text: str | None, titles: Titles = Titles()) -> str:
    """A finding's quote as shown: a metric (``silence_share = 0.371``) or a silence (``… [12.0 s] …``) in
    Russian, spoken text as it is."""
    return phrase(text, titles, sentence=False)


def _part(name: str, value: str, titles: Titles) -> str:
    if name == "rules":
        return ", ".join(titles.rule(r.strip()) for r in value.split(","))
    if name == "step":
        return titles.step(value)
    if name == "speaker":
        return speaker(value).lower()
    if name == "channel":
        return channel(value)
    if name == "severity":
        return severity(value)
    if name == "metric":
        return metric(value)
    if name in ("rest", "window"):
        return phrase(value, titles, sentence=False)
    return value
