"""What a QA supervisor relies on (issue #22): `qa rescore` refuses a rule set whose own tests fail unless --force,
prints (and the rule page shows) what a rescore changed, and the coaching export puts the operator's behaviour
first with the rules taken in turn. Through the real CLI, flow and page on a copy of the samples' database."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from qa.cli import app
from qa.review.web.app import create_app
from qa.store import open_store

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "scripts_rules"


def rule_copy(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    return rules


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def rescores(db: Path) -> list[dict]:
    columns, rows = open_store(db).query("SELECT run_id, status, settings, summary FROM runs WHERE kind = 'rescore'")
    return [dict(zip(columns, r, strict=True)) for r in rows]


def test_rescore_refuses_a_rule_set_whose_own_tests_fail_unless_forced(sample_db, tmp_path):
    rules = rule_copy(tmp_path)
    # the rule's test now expects a hit on the client's «Я не знаю, что делать», which an operator rule cannot give
    edit(rules / "stop_word_dont_know.test.txt", "# ok\n11.5-14.0 client", "# hit\n11.5-14.0 client")
    refused = CliRunner().invoke(app, ["rescore", "--db", str(sample_db), "--rules", str(rules)])
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.output.split())
    assert "rule test failed: stop_word_dont_know:" in said and "1 rule test(s) fail" in said and "--force" in said
    assert rescores(sample_db) == []  # nothing recorded, nothing rescored

    forced = CliRunner().invoke(app, ["rescore", "--db", str(sample_db), "--rules", str(rules), "--force"])
    assert forced.exit_code == 0, forced.output
    [run] = rescores(sample_db)
    assert run["status"] == "completed"
    assert json.loads(run["settings"])["forced"][0].startswith("stop_word_dont_know: ")


def test_rescore_prints_keeps_and_shows_what_it_changed(sample_db, tmp_path):
    rules = rule_copy(tmp_path)
    edit(rules / "stop_word_dont_know.yml", "severity: medium\n", "severity: medium\nstatus: disabled\n")
    edit(rules / "ruleset.yml", "pass_mark: 80", "pass_mark: 50")
    before = dict(open_store(sample_db).query("SELECT conversation_id, flagged FROM current_scores")[1])
    dont_know = open_store(sample_db).query(
        "SELECT count(*) FROM current_findings WHERE rule_id = 'stop_word_dont_know'")[1][0][0]
    assert dont_know > 0
    result = CliRunner().invoke(app, ["rescore", "--db", str(sample_db), "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    after = dict(open_store(sample_db).query("SELECT conversation_id, flagged FROM current_scores")[1])
    cleared = sorted(c for c in before if before[c] and not after[c])
    assert cleared, (before, after)  # a lower pass mark unflags the merely low-scored conversations
    said = " ".join(result.output.split())
    assert re.search(rf"stop_word_dont_know[\s│|]+{dont_know}[\s│|]+0[\s│|]+-{dont_know}", result.output), result.output
    assert f"Flag changed in {len(cleared)} of {len(before)} conversations: 0 newly flagged, {len(cleared)} no " \
           "longer flagged (" in said, said
    assert all(cid in said for cid in cleared), said
    assert re.search(r"Score: average [\d.]+ → [\d.]+ \(\+[\d.]+\); \d+ up, 0 down", said), said

    [run] = rescores(sample_db)
    summary = json.loads(run["summary"])
    assert {"rule_id": "stop_word_dont_know", "before": dont_know, "after": 0} in summary["rules"]
    assert sorted(summary["no_longer_flagged_ids"]) == cleared and summary["newly_flagged"] == 0
    assert summary["score"]["mean_shift"] > 0
    assert open_store(sample_db).query("SELECT count(*) FROM rescore_baseline")[1] == [(0,)]  # dropped when done

    page = TestClient(create_app(open_store(sample_db), REPO, auth_mode="none"), base_url="http://127.0.0.1")
    html = page.get("/rules").text
    section = html[html.index('id="last-rescore"'):]
    assert "Последний пересчёт" in html
    assert f'<span data-col="no_longer_flagged">{len(cleared)}</span> больше не отмечены' in section
    assert re.search(rf'<tr data-rule="stop_word_dont_know">.*?<td class="num">{dont_know}</td>\s*'
                     r'<td class="num">0</td>', section, re.S), section[:3000]
    for cid in cleared:
        assert f'href="/conversations/{cid}"' in section


def test_the_coaching_export_puts_the_operators_behaviour_first_and_takes_rules_in_turn(sample_db, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["export", "--db", str(sample_db), "--out", str(out), "--format", "jsonl",
                                      "--limit", "8", "--no-clips"])
    assert result.exit_code == 0, result.output
    examples = [json.loads(line) for line in (out / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(examples) == 8
    sides = ["client" if e["speaker"] == "client" else "operator" for e in examples]
    assert sides == sorted(sides, key=lambda s: s == "client") and sides[0] == "operator", sides
    _columns, rows = open_store(sample_db).query(
        "SELECT DISTINCT rule_id FROM current_findings WHERE speaker <> 'client'")
    operator_rules = {r[0] for r in rows}
    first = [e["rule_id"] for e in examples[: min(len(operator_rules), 8)]]
    assert len(set(first)) == len(first), first  # each operator rule once before any rule twice
    assert [e["rank"] for e in examples] == list(range(1, 9))
