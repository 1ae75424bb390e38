"""Rule files: schema validation with file, line and field; the rule set version; check-rules on a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.errors import RuleFileError
from qa.rules.ruleset import check_ruleset_errors, load_rule, load_ruleset, ruleset_version

GOOD = """\
id: my_rule
title: Оператор говорит «не знаю»
kind: stopword
category: stop_word
severity: medium
speaker: operator
match:
  phrases: [не знаю]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_rule_loads(tmp_path):
    rule = load_rule(write(tmp_path, "my_rule.yml", GOOD))
    assert rule.kind == "stopword" and rule.match is not None and rule.match.fuzzy == 90


@pytest.mark.parametrize(
    ("edit", "line", "field", "problem"),
    [
        (("severity: medium", "severity: mild"), 5, "severity", "Input should be"),
        (("speaker: operator", "speaker: operator\nspeeker: client"), 7, "speeker", "unknown field"),
        (("  phrases: [не знаю]", "  phrases: []"), 8, "match.phrases", "at least 1"),
        (("kind: stopword", "kind: script"), None, None, "needs 'steps'"),
        (("id: my_rule", "id: other_rule"), 1, "id", "must equal the file name"),
        (("  phrases: [не знаю]", "  phrases: [не знаю]\n  fuzzy: 150"), 9, "match.fuzzy", "less than or equal"),
        (("match:", "match\n"), None, None, "invalid YAML"),
    ],
)
def test_broken_rules_name_file_line_and_field(tmp_path, edit, line, field, problem):
    path = write(tmp_path, "my_rule.yml", GOOD.replace(*edit))
    with pytest.raises(RuleFileError) as err:
        load_rule(path)
    message = str(err.value)
    assert message.startswith(str(path))
    assert problem in message
    if line is not None:
        assert err.value.line == line and f"{path}:{line}:" in message
    if field is not None:
        assert err.value.field == field


def test_script_steps_validate_applies_after(tmp_path):
    text = """\
id: s
title: Скрипт
kind: script
category: script
severity: low
steps:
  - {id: thanks, title: Спасибо, category: thanks_for_waiting, phrases: [спасибо за ожидание], applies_after: hold}
  - {id: hold, title: Ожидание, category: hold, phrases: [оставайтесь на линии]}
"""
    with pytest.raises(RuleFileError, match="applies_after must name an earlier step"):
        load_rule(write(tmp_path, "s.yml", text))


def test_metric_rules_know_their_metrics(tmp_path):
    text = "id: m\ntitle: M\nkind: metric\ncategory: metric\nseverity: low\nmetric: {name: talk_speed, above: 1}\n"
    with pytest.raises(RuleFileError, match="unknown metric 'talk_speed'") as err:
        load_rule(write(tmp_path, "m.yml", text))
    assert err.value.line == 6


def test_ruleset_needs_settings_and_known_auto_fail(tmp_path):
    write(tmp_path, "my_rule.yml", GOOD)
    with pytest.raises(RuleFileError, match=r"needs a ruleset\.yml"):
        load_ruleset(tmp_path)
    write(tmp_path, "ruleset.yml", "name: t\nauto_fail: [nope]\n")
    with pytest.raises(RuleFileError, match="auto_fail names unknown rule 'nope'"):
        load_ruleset(tmp_path)


def test_check_reports_every_broken_file(tmp_path):
    write(tmp_path, "ruleset.yml", "name: t\npass_mark: 120\n")
    write(tmp_path, "my_rule.yml", GOOD.replace("severity: medium", "severity: mild"))
    write(tmp_path, "ok_rule.yml", GOOD.replace("id: my_rule", "id: ok_rule"))
    errors = check_ruleset_errors(tmp_path)
    assert sorted(Path(e.path).name for e in errors) == ["my_rule.yml", "ruleset.yml"]


def test_version_is_the_content_hash(tmp_path):
    write(tmp_path, "ruleset.yml", "name: t\n")
    write(tmp_path, "my_rule.yml", GOOD)
    before = ruleset_version(tmp_path)
    assert ruleset_version(tmp_path) == before
    write(tmp_path, "my_rule.yml", GOOD.replace("medium", "high"))
    assert ruleset_version(tmp_path) != before
    assert load_ruleset(tmp_path).version == ruleset_version(tmp_path)


def test_default_ruleset_is_valid():
    folder = Path(__file__).parents[1] / "scripts_rules"
    assert check_ruleset_errors(folder) == []
    ruleset = load_ruleset(folder)
    categories = {r.category for r in ruleset.rules} | {s.category for r in ruleset.rules for s in r.steps or ()}
    for needed in ("greeting", "introduction", "company", "farewell", "stop_word", "escalation", "silence",
                   "slow_first_response"):
        assert needed in categories
    assert "Телеком Плюс" in ruleset.asr_vocabulary()
