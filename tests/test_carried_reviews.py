"""Verdicts survive rule edits: `qa rescore` with an edited rule moves a finding's start (its key changes) and
the verdict follows it to the finding of the same rule on the same turn that overlaps it most."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.store import open_store, queries

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "carry" / "parasites.transcript.json"
runner = CliRunner()


def parasite_verdicts(db: Path) -> dict[str, str | None]:
    found = queries.findings(open_store(db), queries.Filters(flagged=None, rule="stop_word_parasites"))
    return {f["finding_key"]: f["verdict"] for f in found}


def test_a_verdict_follows_its_finding_when_a_rule_edit_moves_its_start(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(FIXTURE, inbox / FIXTURE.name)
    db = tmp_path / "qa.duckdb"
    ran = runner.invoke(app, ["run", str(inbox), "--db", str(db), "--cache-dir", ""])
    assert ran.exit_code == 0, ran.output
    assert parasite_verdicts(db) == {"stop_word_parasites@1@7.5": None, "stop_word_parasites@1@8.6": None}
    for key, verdict in (("stop_word_parasites@1@7.5", "confirmed"), ("stop_word_parasites@1@8.6", "false_positive")):
        result = runner.invoke(app, ["review", "carry-1", verdict, "--by", "тренер", "--finding", key, "--db", str(db)])
        assert result.exit_code == 0, result.output

    rules = tmp_path / "rules"
    shutil.copytree(REPO / "scripts_rules", rules)
    rule = rules / "stop_word_parasites.yml"
    text = rule.read_text(encoding="utf-8")
    assert "\n    - блин\n" in text
    rule.write_text(text.replace("\n    - блин\n", "\n    - роуминг блин\n"), encoding="utf-8")  # starts at 8.0 now
    rescored = runner.invoke(app, ["rescore", "--db", str(db), "--rules", str(rules), "--force"])
    assert rescored.exit_code == 0, rescored.output

    assert parasite_verdicts(db) == {"stop_word_parasites@1@7.5": "confirmed",
                                     "stop_word_parasites@1@8.0": "false_positive"}
    _, rows = open_store(db).query("SELECT finding_key, carried_from FROM reviews WHERE carried_from IS NOT NULL")
    assert rows == [("stop_word_parasites@1@8.0", "stop_word_parasites@1@8.6")]
    _, precision = queries.rule_precision(open_store(db))
    assert any(r[0] == "stop_word_parasites" for r in precision)
