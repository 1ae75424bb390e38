"""`qa search` on a store written by the real write path: results as JSON, bad queries exit 2 in Russian, a search
saved as a draft rule by a supervisor that `qa check-rules` accepts, `qa rescore` applies and `qa precision` then
lists; `qa stats --by week` as CSV."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from search_data import conversations
from typer.testing import CliRunner

from qa.cli import app
from qa.review import auth
from qa.store import open_store

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture
def db(tmp_path, scorer) -> Path:
    path = tmp_path / "qa.duckdb"
    open_store(path).write_results("run-1", [scorer.score(c) for c in conversations()])
    return path


def qa(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_search_prints_hits_as_json_with_filters(db):
    code, out, _ = qa("search", "вернуть деньги", "--db", str(db), "--speaker", "client", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [f"{r['conversation_id']}:{r['utterance_idx']}" for r in rows] == ["c6:0", "c5:0", "c3:0", "c2:1", "c1:0"]
    call = next(r for r in rows if r["conversation_id"] == "c2")
    assert call["snippet"] == "Я хочу, чтобы мне [вернули] [денег] за октябрь." and call["at"] == "0:31"
    code, out, _ = qa("search", "вернуть деньги", "--db", str(db), "--miss", "escalation_refund", "--format", "csv")
    assert code == 0 and [r["conversation_id"] for r in csv.DictReader(io.StringIO(out))] == ["c5", "c3", "c1"]
    code, out, _ = qa("search", "спасибо", "--db", str(db), "--no-redact", "--format", "json")
    assert code == 0 and json.loads(out)
    _, [(action, detail)] = open_store(db).query("SELECT action, detail FROM audit")
    assert action == "pii_shown" and detail.startswith("qa search «спасибо» --no-redact")
    code, _, err = qa("search", "деньги", "--db", str(db), "--team", "team-z")
    assert code == 1 and "did you mean" in err
    everything = json.loads(qa("search", "деньги", "--db", str(db), "--format", "json")[1])
    for option in ("--team", "--operator", "--hit", "--miss"):  # injection through the CLI's fields: no match, or
        code, out, _ = qa("search", "деньги", "--db", str(db), option, "x' OR 1=1 --", "--format", "json")
        assert code in (0, 1) and json.loads(out) == ([] if option != "--miss" else everything), option  # all
    assert open_store(db).query("SELECT count(*) FROM conversations")[1] == [(6,)]


@pytest.mark.parametrize(("query", "message"), [
    ("", "Пустой запрос"),
    ("и в на", "только служебные слова"),
    ("«вернуть деньги", "Незакрытая кавычка"),
    ("д" * 10_000, "Запрос слишком длинный: 10 000 символов"),
])
def test_bad_queries_exit_2_with_a_russian_message(db, query, message):
    code, out, err = qa("search", query, "--db", str(db))
    assert code == 2 and message in " ".join(err.split()) and out == ""


def test_a_search_saved_as_a_rule_passes_check_rules_and_rescore_applies_it(db, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "scripts_rules", rules, ignore=shutil.ignore_patterns("__pycache__"))
    auth.add_user(open_store(db), "anna", "correct horse battery", "supervisor")
    auth.add_user(open_store(db), "lida", "correct horse battery", "team_lead", ("team-a",))
    save = ["search", "вернуть деньги", "--db", str(db), "--speaker", "client", "--save-rule", "refund_request",
            "--title", "Клиент просит вернуть деньги", "--category", "escalation", "--rules", str(rules),
            "--right", "1,3,4", "--wrong", "2"]
    code, _, err = qa(*save, "--by", "lida")
    assert code == 2 and "only a supervisor" in err and not (rules / "refund_request.yml").exists()
    code, out, err = qa(*save, "--by", "anna")
    assert code == 0, err
    assert "Saved draft rule refund_request (3 hit, 1 ok cases pass)" in " ".join(out.split())
    tests = (rules / "refund_request.test.txt").read_text(encoding="utf-8")
    assert tests.splitlines().count("# hit") == 3 and "# ok\n0.0-2.0 client: Мне уже вернули деньги, спасибо." in tests
    _, [row] = open_store(db).query("SELECT username, detail FROM audit WHERE action = 'rule_saved'")
    assert row[0] == "anna" and row[1].startswith("refund_request from «вернуть деньги»: 3 right, 1 wrong, new")
    code, out, _ = qa("check-rules", str(rules))
    assert code == 0 and "ok   refund_request: 3 hit, 1 ok" in out
    code, _, err = qa(*save, "--by", "anna")  # exists: not on a terminal, so not without --overwrite
    assert code == 2 and "--overwrite" in err
    code, _, err = qa(*save, "--by", "anna", "--overwrite", "--title", "Возврат денег")
    assert code == 0 and "title: Возврат денег" in (rules / "refund_request.yml").read_text(encoding="utf-8")
    code, out, err = qa("rescore", "--db", str(db), "--rules", str(rules))
    assert code == 0, out + err
    code, out, _ = qa("precision", "--db", str(db), "--format", "json")
    refund = next(r for r in json.loads(out) if r["rule_id"] == "refund_request")
    assert refund["findings"] == 4  # c1:0, c2:1, c3:0 and the mono c6:0; c5:0 «уже вернули» is an exception


def test_stats_by_week_as_csv(db):
    code, out, _ = qa("stats", "--by", "week", "--db", str(db), "--team", "team-a", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and sum(int(r["conversations"]) for r in rows) == 4
    assert list(rows[0]) == ["week", "conversations", "flagged", "flagged_pct", "escalations", "avg_score",
                             "min_score"]
    code, out, _ = qa("stats", "--by", "week-operator", "--db", str(db), "--format", "csv")
    assert code == 0 and {r["operator_id"] for r in csv.DictReader(io.StringIO(out))} == {"op-1", "op-2", "op-3",
                                                                                           "op-4"}
    code, out, _ = qa("stats", "--by", "rule-week", "--db", str(db), "--format", "csv")
    assert code == 0 and out.startswith("rule_id,category,previous_week,this_week")
