"""Rule files as data: the schema (pydantic), the loader and the rule set's version.

A rule set is a folder with ``ruleset.yml`` (scoring policy) and one ``<id>.yml`` per rule; see
``docs/rules.md``. A broken file is refused with a ``RuleFileError`` naming the file, line and field.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from qa.errors import RuleFileError

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")
Kind = Literal["stopword", "trigger", "script", "silence", "metric"]
RuleSpeaker = Literal["operator", "client", "any"]
ChannelName = Literal["call", "chat"]

CALL_METRICS = (
    "duration_s",
    "operator_talk_s",
    "client_talk_s",
    "operator_talk_share",
    "talk_listen_ratio",
    "overtalk_count",
    "overtalk_s",
    "operator_interruptions",
    "operator_speech_rate_wpm",
    "client_speech_rate_wpm",
    "longest_operator_monologue_s",
    "longest_monologue_s",
    "silence_share",
    "longest_silence_s",
    "operator_reply_latency_mean_s",
    "operator_reply_latency_max_s",
    "operator_replies",
    "operator_slow_replies",
    "client_reply_latency_mean_s",
    "client_reply_latency_max_s",
    "client_replies",
    "client_slow_replies",
)
CHAT_METRICS = ("first_response_s", "mean_response_s", "max_response_s")
PER_REPLY_METRICS = ("response_s", "reply_latency_s")
KNOWN_METRICS = CALL_METRICS + CHAT_METRICS + PER_REPLY_METRICS

_ID = re.compile(r"^[a-z0-9_]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Strict):
    """Where in the conversation a rule or step looks: the first or last N seconds, or everywhere."""

    first_s: float | None = Field(default=None, gt=0)
    last_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_side(self) -> Window:
        if self.first_s is not None and self.last_s is not None:
            raise ValueError("give first_s or last_s, not both")
        return self


class Match(_Strict):
    """Phrases to look for, in ordinary Russian (lemmatised at load time)."""

    phrases: list[str] = Field(min_length=1)
    max_gap: int = Field(default=0, ge=0, le=10)
    ordered: bool = True
    fuzzy: int | None = Field(default=90, ge=50, le=100)
    phrase_fuzzy: int | None = Field(default=None, ge=70, le=100)  # phrase-level second pass (docs/rules.md)


class Unless(_Strict):
    """Exceptions: a phrase found in the scope cancels the hit (negations, polite set phrases)."""

    phrases: list[str] = Field(min_length=1)
    scope: Literal["utterance", "before", "conversation"] = "utterance"
    words: int = Field(default=3, ge=1, le=20)


class Step(_Strict):
    """One step of a script rule."""

    id: str
    title: str
    category: str
    phrases: list[str] = Field(min_length=1)
    window: Window | None = None
    weight: float = Field(default=0, ge=0)
    optional: bool = False
    applies_after: str | None = None
    channels: list[ChannelName] | None = None
    max_gap: int = Field(default=1, ge=0, le=10)
    fuzzy: int | None = Field(default=90, ge=50, le=100)
    name_cues: list[str] = Field(default_factory=list)  # role nouns and cues a person's name follows


class SilenceParams(_Strict):
    """Mutual-silence detection."""

    min_gap_s: float = Field(default=8.0, gt=0)
    max_gap_s: float | None = Field(default=None, gt=0)
    hold_phrases: list[str] = Field(default_factory=list)
    hold_lookback_s: float = Field(default=15.0, ge=0)
    skip_announced: bool = False
    only_announced: bool = False
    announced_severity: Severity | None = "info"


class MetricParams(_Strict):
    """A threshold on a conversation metric (or on each reply's response time)."""

    name: str
    above: float | None = None
    below: float | None = None

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in KNOWN_METRICS:
            raise ValueError(f"unknown metric {v!r}; known: {', '.join(KNOWN_METRICS)}")
        return v

    @model_validator(mode="after")
    def _threshold(self) -> MetricParams:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of above or below")
        return self


class Rule(_Strict):
    """One rule file."""

    id: str
    title: str
    kind: Kind
    category: str
    severity: Severity
    speaker: RuleSpeaker = "operator"
    channels: list[ChannelName] = Field(default_factory=lambda: ["call", "chat"])
    status: Literal["active", "experimental", "disabled"] = "active"
    description: str = ""
    message: str = ""
    penalty: float | None = Field(default=None, ge=0)
    max_penalty: float | None = Field(default=None, ge=0)
    window: Window | None = None
    match: Match | None = None
    unless: Unless | None = None
    negation: bool | None = None  # negation/hypothetical scope cancels a hit; None = on for escalation triggers
    steps: list[Step] | None = None
    enforce_order: bool = False
    silence: SilenceParams | None = None
    metric: MetricParams | None = None

    @property
    def negation_scope(self) -> bool:
        """Whether a negated or hypothetical hit is dropped (the ``negation`` field, else on for escalations)."""
        if self.negation is not None:
            return self.negation
        return self.kind == "trigger" and self.category == "escalation"

    @field_validator("id")
    @classmethod
    def _id_form(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("use lower-case latin letters, digits and _")
        return v

    @model_validator(mode="after")
    def _kind_fields(self) -> Rule:
        need = {"stopword": "match", "trigger": "match", "script": "steps", "silence": "silence", "metric": "metric"}
        wanted = need[self.kind]
        if getattr(self, wanted) is None:
            raise ValueError(f"a {self.kind} rule needs '{wanted}'")
        for other in set(need.values()) - {wanted}:
            if getattr(self, other) is not None:
                raise ValueError(f"'{other}' does not belong in a {self.kind} rule")
        if self.steps is not None:
            ids = [s.id for s in self.steps]
            if len(set(ids)) != len(ids):
                raise ValueError("step ids must be unique")
            for s in self.steps:
                if s.applies_after is not None and s.applies_after not in ids[: ids.index(s.id)]:
                    raise ValueError(f"step {s.id!r}: applies_after must name an earlier step")
        return self


class Brand(_Strict):
    """One brand of ``company.brands``: how it is spoken, and which teams and lines speak for it."""

    names: list[str] = Field(min_length=1)
    teams: list[str] = Field(default_factory=list)
    lines: list[str] = Field(default_factory=list)

    @field_validator("names")
    @classmethod
    def _not_blank(cls, v: list[str]) -> list[str]:
        if any(not n.strip() for n in v):
            raise ValueError("a brand name must not be blank")
        return v


class Company(_Strict):
    """Who the operator speaks for: a default (``names``), brands per team / line, and organisation nouns.

    See docs/rules.md, «Бренды»: a sidecar or chat ``company`` overrides the team's brand.
    """

    names: list[str] = Field(default_factory=list)
    brands: dict[str, Brand] = Field(default_factory=dict)
    org_types: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_brand_per_team(self) -> Company:
        for kind in ("teams", "lines"):
            owner: dict[str, str] = {}
            for key, brand in self.brands.items():
                for item in getattr(brand, kind):
                    if item in owner:
                        raise ValueError(f"brands.{key}.{kind}: {item!r} already speaks for brand {owner[item]!r}")
                    owner[item] = key
        return self


class FlagPolicy(_Strict):
    """What makes a conversation *flagged* for review."""

    below_pass_mark: bool = True
    auto_fail: bool = True
    categories: list[str] = Field(default_factory=lambda: ["escalation"])
    min_severity: Severity | None = "high"


class RulesetSettings(_Strict):
    """``ruleset.yml``: scoring policy of a rule set."""

    name: str
    company: Company = Field(default_factory=Company)
    pass_mark: float = Field(default=80, ge=0, le=100)
    penalties: dict[Severity, float] = Field(
        default_factory=lambda: {"info": 0, "low": 3, "medium": 7, "high": 15, "critical": 30}
    )
    max_penalty_per_rule: float = Field(default=20, ge=0)
    penalised_kinds: list[Kind] = Field(default_factory=lambda: ["stopword", "silence", "metric"])
    auto_fail: list[str] = Field(default_factory=list)
    flag: FlagPolicy = Field(default_factory=FlagPolicy)
    escalation_categories: list[str] = Field(default_factory=lambda: ["escalation"])
    vocabulary: list[str] = Field(default_factory=list)
    # the text Whisper is primed with, ``{terms}`` standing for the brand's names and ``vocabulary`` (None: the
    # terms alone); the environment's QA_PROMPT_TEMPLATE wins
    prompt_template: str | None = None

    @field_validator("prompt_template")
    @classmethod
    def _one_terms_slot(cls, value: str | None) -> str | None:
        from qa.speech.transcribe.options import check_prompt_template

        return value if value is None else check_prompt_template(value)


@dataclass(frozen=True)
class RuleSet:
    """A loaded, validated rule set (not yet compiled for matching)."""

    path: Path
    settings: RulesetSettings
    rules: tuple[Rule, ...]
    version: str
    sources: dict[str, Path] = field(default_factory=dict)  # rule id -> file

    def active_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.status != "disabled")

    def asr_vocabulary(self) -> list[str]:
        """Words the transcriber should be primed with: company names and the set's vocabulary."""
        words = [*self.settings.company.names, *self.settings.vocabulary]
        return list(dict.fromkeys(w for w in words if w.strip()))


def ruleset_version(folder: Path) -> str:
    """The rule set's content hash: sha256 over the names and bytes of its YAML files."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml")):
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (as deep as it exists)."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == key:
                    line, nxt = k.start_mark.line + 1, v
                    break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
        if node is None:
            break
    return line


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RuleFileError(path, f"not UTF-8 text ({exc.reason})") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleFileError(path, f"invalid YAML: {problem}", line=mark.line + 1 if mark else None) from exc
    return data, node


def _validate(model: type[BaseModel], path: Path) -> BaseModel:
    data, node = _read_yaml(path)
    if not isinstance(data, dict):
        raise RuleFileError(path, "expected a mapping of fields at the top level", line=1)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        field_name = ".".join(str(p) for p in loc) or None
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (typo?)"
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise RuleFileError(path, msg + more, line=_line_of(node, loc), field=field_name) from exc


def load_rule(path: Path) -> Rule:
    """Validate one rule file; its ``id`` must equal the file name."""
    rule = _validate(Rule, path)
    assert isinstance(rule, Rule)
    if rule.id != path.stem:
        _, node = _read_yaml(path)
        raise RuleFileError(path, f"id {rule.id!r} must equal the file name {path.stem!r}",
                            line=_line_of(node, ("id",)), field="id")
    return rule


def load_ruleset(folder: str | Path) -> RuleSet:
    """Load and validate a rule set folder. Raises ``RuleFileError`` on the first broken file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RuleFileError(folder, "rule set folder not found")
    settings_path = folder / "ruleset.yml"
    if not settings_path.is_file():
        raise RuleFileError(settings_path, "missing: every rule set folder needs a ruleset.yml")
    settings = _validate(RulesetSettings, settings_path)
    assert isinstance(settings, RulesetSettings)
    rules: list[Rule] = []
    sources: dict[str, Path] = {}
    for path in sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml")):
        if path.name in ("ruleset.yml", "ruleset.yaml"):
            continue
        rule = load_rule(path)
        rules.append(rule)
        sources[rule.id] = path
    if not rules:
        raise RuleFileError(folder, "no rule files (*.yml) in the rule set")
    ids = {r.id for r in rules}
    for rule_id in settings.auto_fail:
        if rule_id not in ids:
            raise RuleFileError(settings_path, f"auto_fail names unknown rule {rule_id!r}", field="auto_fail")
    return RuleSet(path=folder, settings=settings, rules=tuple(rules), version=ruleset_version(folder),
                   sources=sources)


def check_ruleset_errors(folder: str | Path) -> list[RuleFileError]:
    """Every broken file in a folder (not just the first), for ``qa check-rules``."""
    folder = Path(folder)
    errors: list[RuleFileError] = []
    if not folder.is_dir():
        return [RuleFileError(folder, "rule set folder not found")]
    settings_path = folder / "ruleset.yml"
    if not settings_path.is_file():
        errors.append(RuleFileError(settings_path, "missing: every rule set folder needs a ruleset.yml"))
    else:
        try:
            _validate(RulesetSettings, settings_path)
        except RuleFileError as exc:
            errors.append(exc)
    for path in sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml")):
        if path.name in ("ruleset.yml", "ruleset.yaml"):
            continue
        try:
            load_rule(path)
        except RuleFileError as exc:
            errors.append(exc)
    if not errors:
        try:
            load_ruleset(folder)
        except RuleFileError as exc:
            errors.append(exc)
    return errors


def read_yaml(path: str | Path) -> Any:
    """The data of any YAML file (safe loader), for fixtures and tools; RuleFileError when it is not valid YAML."""
    return _read_yaml(Path(path))[0]
