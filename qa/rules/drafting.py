"""A search turned into a draft rule with its own tests (the page's «Сохранить как правило», ``qa search
--save-rule``).

The query's phrases become the rule's ``match.phrases`` (each way the query can be satisfied, one phrase), its
excluded words the ``unless`` phrases; the sentences the user marked right become ``# hit`` cases of the rule's test
file and those marked wrong ``# ok`` cases. The draft is then tested in a scratch folder and, where a wrong example
still hits, sharpened: the negation check switched on when that clears it, else a word of the wrong sentence that no
right one has is added to ``unless``. A draft whose tests still fail is refused, naming the sentences it cannot tell
apart, so what is saved always passes ``qa check-rules``. An existing rule is never overwritten unless asked to.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from qa.rules.rule_tests import RuleTestResult, run_rule_test
from qa.rules.ruleset import SEVERITIES
from qa.rules.scoring import build_scorer
from qa.text.analysis import LemmatizerLike, analyse_text
from qa.text.search_query import Atom, Group, SearchQuery, language

_ID = re.compile(r"^[a-z0-9_]+$")
MAX_PHRASES = 16
ANY_ORDER_GAP = 10  # «all these words in the sentence» as a rule: within this many other words (the schema's most)
KINDS = ("stopword", "trigger")
SPEAKERS = ("operator", "client", "any")
STATUSES = ("experimental", "active")


class DraftError(ValueError):
    """A draft that cannot be made or saved; ``str()`` says why, in Russian."""


class RuleExists(DraftError):
    """The rule (or its test file) is already in the folder; saving again needs ``overwrite``."""


@dataclass(frozen=True)
class Example:
    """A search hit marked by the user: ``right`` ones must hit, wrong ones must not. ``spare``: a sentence offered
    as a wrong example only when the user marked none (used when the draft does not hit it)."""

    text: str
    speaker: str
    channel: str
    right: bool
    source: str = ""
    spare: bool = False


@dataclass(frozen=True)
class DraftChoices:
    """What the user picked for the rule. ``kind`` ``None``: a stop-word for the operator, else a trigger."""

    rule_id: str
    title: str
    speaker: str = "any"
    category: str = "search"
    severity: str = "medium"
    kind: str | None = None
    status: str = "experimental"
    channels: tuple[str, ...] = ()
    author: str = ""


@dataclass
class Draft:
    """A rule file and its test file that pass, with what was done to make them pass."""

    rule_id: str
    yaml_text: str
    tests_text: str
    result: RuleTestResult
    notes: list[str] = field(default_factory=list)


def check_choices(choices: DraftChoices) -> None:
    """:class:`DraftError` for a choice the rule schema would refuse, said in Russian."""
    if not _ID.match(choices.rule_id or "") or choices.rule_id in ("ruleset",):
        raise DraftError(f"Идентификатор правила {choices.rule_id!r}: только строчные латинские буквы, цифры и _ "
                         "(например refund_request)")
    if not choices.title.strip():
        raise DraftError("Укажите название правила")
    if choices.speaker not in SPEAKERS:
        raise DraftError(f"Чьи слова: operator, client или any, а не {choices.speaker!r}")
    if choices.severity not in SEVERITIES:
        raise DraftError(f"Важность: одна из {', '.join(SEVERITIES)}, а не {choices.severity!r}")
    if choices.kind not in (None, *KINDS):
        raise DraftError(f"Вид правила: stopword или trigger, а не {choices.kind!r}")
    if choices.status not in STATUSES:
        raise DraftError(f"Статус: experimental или active, а не {choices.status!r}")
    if not re.match(r"^[a-z0-9_]+$", choices.category or ""):
        raise DraftError(f"Категория {choices.category!r}: строчные латинские буквы, цифры и _")
    if any(c not in ("call", "chat") for c in choices.channels):
        raise DraftError("Каналы: call и/или chat")


# --- the query as phrases ---------------------------------------------------------------------------------------

def _alternatives(part: Atom | Group) -> list[list[Atom]]:
    """Every way ``part`` can be satisfied, as lists of atoms that must all be there."""
    if isinstance(part, Atom):
        return [[part]]
    if part.op == "any":
        return [alt for p in part.parts for alt in _alternatives(p)]
    if part.excluded:
        raise DraftError("Исключение (NOT, минус) внутри скобок нельзя перенести в правило: вынесите его на верхний "
                         "уровень запроса")
    combos: list[list[Atom]] = [[]]
    for p in part.parts:
        combos = [a + b for a in combos for b in _alternatives(p)]
        if len(combos) > MAX_PHRASES:
            raise DraftError(f"Запрос даёт больше {MAX_PHRASES} вариантов фраз: упростите его для правила")
    return combos


def query_phrases(query: SearchQuery) -> tuple[list[str], int, bool, list[str]]:
    """The rule's phrases, ``max_gap`` and ``ordered``, and its ``unless`` phrases, from a query."""
    root = query.root
    combos = _alternatives(Group("all", root.parts))
    phrases: list[str] = []
    gap, ordered = 0, True
    for atoms in combos:
        words = [w.norm for a in atoms for w in a.words]
        if len(atoms) == 1 and atoms[0].slop is None:
            pass  # one word, or a phrase: side by side, in order
        elif len(atoms) == 1:
            gap, ordered = max(gap, min(atoms[0].slop or 0, ANY_ORDER_GAP)), False
        else:
            gap, ordered = ANY_ORDER_GAP, False
        phrases.append(" ".join(words))
    unless = []
    for part in root.excluded:
        for atoms in _alternatives(part):
            unless.append(" ".join(w.norm for a in atoms for w in a.words))
    return list(dict.fromkeys(phrases)), gap, ordered, list(dict.fromkeys(unless))


def rule_document(query: SearchQuery, choices: DraftChoices) -> dict[str, Any]:
    """The rule file's content (a dict in the field order of the shipped rules)."""
    phrases, gap, ordered, unless = query_phrases(query)
    kind = choices.kind or ("stopword" if choices.speaker == "operator" else "trigger")
    doc: dict[str, Any] = {
        "id": choices.rule_id, "title": choices.title.strip(), "kind": kind, "category": choices.category,
        "severity": choices.severity, "speaker": choices.speaker,
    }
    if choices.channels:
        doc["channels"] = list(dict.fromkeys(choices.channels))
    doc["status"] = choices.status
    doc["description"] = (f"Черновик из поиска «{query.text}»: примеры, отмеченные верными и неверными, — в "
                          f"{choices.rule_id}.test.txt.")
    doc["message"] = f"Найдено правилом «{choices.title.strip()}» (черновик из поиска): проверьте."
    match: dict[str, Any] = {"phrases": phrases}
    if gap:
        match["max_gap"] = gap
    if not ordered:
        match["ordered"] = False
    match["fuzzy"] = language().fuzzy_cutoff if query.fuzzy else None
    doc["match"] = match
    if unless:
        doc["unless"] = {"phrases": unless, "scope": "utterance"}
    return doc


def _yaml(doc: dict[str, Any], header: str) -> str:
    body = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=110, default_flow_style=False)
    return header + body


def _clock(seconds: float) -> str:
    return f"{max(seconds, 0.4):.1f}"


def tests_document(examples: Sequence[Example], header: str) -> str:
    """The rule's test file: one dialogue per example, ``# hit`` for right ones, ``# ok`` for wrong ones."""
    blocks = []
    for e in examples:
        text = " ".join(e.text.split())
        lines = [f"# {e.source}" if e.source else "", f"# channel: {e.channel}", "# hit" if e.right else "# ok",
                 f"0.0-{_clock(0.4 * max(1, len(text.split())))} {e.speaker}: {text}"]
        blocks.append("\n".join(line for line in lines if line))
    return header + "\n---\n".join(blocks) + "\n"


# --- testing and sharpening -------------------------------------------------------------------------------------

def _run(doc: dict[str, Any], tests: str, rules_dir: Path, lemmatizer: LemmatizerLike) -> RuleTestResult:
    """The draft's tests, run on a scratch copy of ``rules_dir``'s settings holding only the draft."""
    with tempfile.TemporaryDirectory(prefix="qa-draft-") as scratch:
        folder = Path(scratch)
        settings = yaml.safe_load((rules_dir / "ruleset.yml").read_text(encoding="utf-8")) or {}
        settings["auto_fail"] = []  # the scratch folder has no other rules to name
        (folder / "ruleset.yml").write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
        rule_id = doc["id"]
        (folder / f"{rule_id}.yml").write_text(_yaml(doc, ""), encoding="utf-8")
        (folder / f"{rule_id}.test.txt").write_text(tests, encoding="utf-8")
        return run_rule_test(rule_id, folder / f"{rule_id}.test.txt", build_scorer(folder, lemmatizer))


_FAILED_LINE = re.compile(r"expected (a hit|no hit) on «(.*)», got")


def _failed(result: RuleTestResult) -> tuple[set[str], set[str]]:
    """Texts of the right examples missed and of the wrong examples hit."""
    missed, wrong = set(), set()
    for failure in result.failures:
        found = _FAILED_LINE.search(failure)
        if found:
            (missed if found.group(1) == "a hit" else wrong).add(found.group(2))
    return missed, wrong


def _distinguishing(wrong: Example, rights: Sequence[Example], query: SearchQuery,
                    lemmatizer: LemmatizerLike) -> list[str]:
    """Words of a wrong sentence that no right one has, nearest to the matched words first."""
    taken = {t.lemma for r in rights for t in analyse_text(r.text, lemmatizer)} | set(query.lemmas())
    tokens = analyse_text(wrong.text, lemmatizer)
    anchors = [i for i, t in enumerate(tokens) if t.lemma in set(query.lemmas())] or [0]
    ranked = sorted((min(abs(i - a) for a in anchors), i, t.norm) for i, t in enumerate(tokens)
                    if t.lemma not in taken and len(t.norm) > 1)
    return list(dict.fromkeys(norm for _, _, norm in ranked))


def _normal(text: str) -> str:
    return " ".join(text.split())


def draft_rule(query: SearchQuery, examples: Sequence[Example], choices: DraftChoices, rules_dir: str | Path,
               lemmatizer: LemmatizerLike, when: date | None = None) -> Draft:
    """A rule and test file from ``query`` and the marked ``examples`` that pass their tests (see the module's
    docstring); :class:`DraftError` when no draft can tell the right examples from the wrong ones."""
    check_choices(choices)
    rules_dir = Path(rules_dir)
    rights = [e for e in examples if e.right]
    if not rights:
        raise DraftError("Отметьте хотя бы один найденный пример как верный: он станет случаем «# hit» теста")
    doc = rule_document(query, choices)
    stamp = f"{when or date.today():%Y-%m-%d}" + (f", {choices.author}" if choices.author else "")
    header = f"# Черновик правила из поиска «{query.text}» ({stamp}). Проверьте фразы и исключения.\n"
    tests_header = (f"# Примеры из поиска «{query.text}» ({stamp}): отмеченные верными — # hit, неверными — # ok.\n")
    wrongs = [e for e in examples if not e.right and not e.spare]
    spares = [e for e in examples if not e.right and e.spare]
    if not wrongs:  # the rule must show one sentence it leaves alone: the other side saying a right one, or a spare
        other = {"operator": "client", "client": "operator"}.get(choices.speaker)
        if other:
            spares.insert(0, Example(rights[0].text, other, rights[0].channel, False,
                                     "тот же пример, сказанный другой стороной", True))
    notes: list[str] = []
    chosen = list(rights) + wrongs
    result = _run(doc, tests_document(chosen, tests_header), rules_dir, lemmatizer)
    missed, hit_wrong = _failed(result)
    if hit_wrong and "negation" not in doc:
        trial = {**doc, "negation": True}
        tried = _run(trial, tests_document(chosen, tests_header), rules_dir, lemmatizer)
        t_missed, t_wrong = _failed(tried)
        if not t_missed - missed and len(t_wrong) < len(hit_wrong):
            doc, result, missed, hit_wrong = trial, tried, t_missed, t_wrong
            notes.append("включена проверка отрицаний (negation: true)")
    tried_words: set[str] = set()
    for _ in range(3):
        if missed or not hit_wrong:
            break
        unless = list(doc.get("unless", {}).get("phrases", []))
        for e in wrongs:
            if _normal(e.text) not in hit_wrong:
                continue
            word = next((w for w in _distinguishing(e, rights, query, lemmatizer) if w not in tried_words), None)
            if word is not None:
                tried_words.add(word)
                unless.append(word)
                notes.append(f"добавлено исключение «{word}» (из неверного примера «{_normal(e.text)[:60]}»)")
        if unless == list(doc.get("unless", {}).get("phrases", [])):
            break
        doc = {**doc, "unless": {"phrases": list(dict.fromkeys(unless)), "scope": "utterance"}}
        result = _run(doc, tests_document(chosen, tests_header), rules_dir, lemmatizer)
        missed, hit_wrong = _failed(result)
    if missed:
        raise DraftError("Правило из этого запроса не находит примеры, отмеченные верными: "
                         + "; ".join(f"«{t[:80]}»" for t in sorted(missed))
                         + _why_missed(choices, rights, missed))
    if hit_wrong:
        raise DraftError("Правило не отличает от верных примеры, отмеченные неверными: "
                         + "; ".join(f"«{t[:80]}»" for t in sorted(hit_wrong))
                         + ". Уточните запрос (исключите слово через минус) или снимите отметку")
    if not wrongs:
        for spare in spares:
            trial_examples = [*rights, spare]
            tried = _run(doc, tests_document(trial_examples, tests_header), rules_dir, lemmatizer)
            if tried.ok:
                chosen, result = trial_examples, tried
                notes.append(f"случай # ok добавлен автоматически: «{_normal(spare.text)[:60]}» ({spare.source})")
                break
        else:
            raise DraftError("Отметьте хотя бы один найденный пример как неверный: тесту правила нужен случай "
                             "«# ok», а подходящего не нашлось")
    return Draft(choices.rule_id, _yaml(doc, header), tests_document(chosen, tests_header), result, notes)


def _why_missed(choices: DraftChoices, rights: Sequence[Example], missed: set[str]) -> str:
    speakers = {e.speaker for e in rights if _normal(e.text) in missed}
    if choices.speaker in ("operator", "client") and speakers - {choices.speaker, "unknown"}:
        return f" (их говорит не та сторона: правило для «{choices.speaker}»)"
    return " (слова стоят дальше 10 слов друг от друга или правило не для этого канала)"


def rule_paths(rules_dir: str | Path, rule_id: str) -> tuple[Path, Path]:
    """The rule file and its test file in a rule folder."""
    folder = Path(rules_dir)
    return folder / f"{rule_id}.yml", folder / f"{rule_id}.test.txt"


def save_draft(draft: Draft, rules_dir: str | Path, overwrite: bool = False) -> list[Path]:
    """Write the draft's two files into ``rules_dir`` (each written whole, then moved in place);
    :class:`RuleExists` when either is there already and ``overwrite`` is not given."""
    folder = Path(rules_dir)
    if not (folder / "ruleset.yml").is_file():
        raise DraftError(f"{folder}: это не папка правил (нет ruleset.yml)")
    paths = rule_paths(folder, draft.rule_id)
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise RuleExists(f"Правило {draft.rule_id} уже есть ({', '.join(p.name for p in existing)}): подтвердите "
                         "перезапись или выберите другой идентификатор")
    for path, text in zip(paths, (draft.yaml_text, draft.tests_text), strict=True):
        spare = path.with_name(f".{path.name}.new")
        spare.write_text(text, encoding="utf-8")
        shutil.move(str(spare), path)
    return list(paths)

