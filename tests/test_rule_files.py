"""Every rule of the default set passes its own test file, which has at least one hit and one ok case."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.rules.rule_tests import parse_test_file, run_rule_test
from qa.rules.ruleset import load_ruleset

RULES = Path(__file__).resolve().parents[1] / "scripts_rules"
RULE_IDS = [r.id for r in load_ruleset(RULES).active_rules()]


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_rule_passes_its_tests(rule_id, scorer):
    result = run_rule_test(rule_id, RULES / f"{rule_id}.test.txt", scorer)
    assert result.hits > 0 and result.oks > 0, result.failures
    assert result.ok, "\n".join(result.failures)


def test_a_rule_without_negative_cases_fails(tmp_path, scorer):
    path = tmp_path / "stop_word_dont_know.test.txt"
    path.write_text("# hit\n0.0 operator: Я не знаю.\n", encoding="utf-8")
    result = run_rule_test("stop_word_dont_know", path, scorer)
    assert not result.ok and any("no '# ok' case" in f for f in result.failures)


def test_a_wrong_expectation_is_reported_with_its_line(tmp_path, scorer):
    path = tmp_path / "stop_word_dont_know.test.txt"
    path.write_text("# ok\n0.0 operator: Я не знаю.\n# hit\n2.0 operator: Я уточню.\n", encoding="utf-8")
    result = run_rule_test("stop_word_dont_know", path, scorer)
    assert len(result.failures) == 2
    assert result.failures[0].startswith(f"{path}:1:") and result.failures[1].startswith(f"{path}:3:")


def test_test_file_format(tmp_path):
    path = tmp_path / "x.test.txt"
    path.write_text(
        "# channel: chat\n0:05 client: Привет\n# hit\n1:00-1:02.5 operator: Добрый день\n---\n"
        "# missing: greeting\n3 operator: Алло\n",
        encoding="utf-8",
    )
    first, second = parse_test_file(path)
    assert first.channel == "chat" and second.channel == "call"
    assert [(u.speaker, u.start, u.end) for u in first.utterances] == [("client", 5.0, 5.4), ("operator", 60.0, 62.5)]
    assert [(e.kind, e.utterance_idx) for e in first.expectations] == [("hit", 1)]
    assert [(e.kind, e.step) for e in second.expectations] == [("missing", "greeting")]
