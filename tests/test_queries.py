"""The read side and verdicts on a database made by the real flow: views, `qa stats`, `qa findings`,
`qa review`, `qa precision`; verdicts survive re-scoring; an older database is upgraded when read."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from importlib import resources
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.store import Review, open_store, queries

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
COMPLAINT = "escalation_complaint"


def cli_json(*args: str) -> list[dict]:
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def complaint_key(db: Path) -> str:
    [finding] = queries.findings(open_store(db),
                                 queries.Filters(flagged=None, rule=COMPLAINT, conversation_id="call-0003"))
    return finding["finding_key"]


def test_stats_per_operator_team_and_day(sample_db):
    by_operator = {r["operator_id"]: r for r in cli_json("stats", "--db", str(sample_db))}
    assert by_operator["op-anna"]["conversations"] == 3 and by_operator["op-anna"]["flagged"] == 0
    assert by_operator["op-igor"]["flagged"] == 3 and by_operator["op-igor"]["escalations"] == 2
    by_team = {r["team"]: r for r in cli_json("stats", "--by", "team", "--db", str(sample_db))}
    assert by_team["team-south"]["conversations"] == 4
    days = cli_json("stats", "--by", "day", "--db", str(sample_db), "--since", "2026-11-27", "--until", "2026-11-27")
    assert [(d["day"], d["conversations"]) for d in days] == [("2026-11-27", 6)]
    rules = {r["rule_id"]: r for r in cli_json("stats", "--by", "rule", "--db", str(sample_db))}
    assert rules["silence_dead_air"]["conversations"] == 1
    injected = runner.invoke(app, ["stats", "--db", str(sample_db), "--team", "x' OR 1=1 --", "--format", "json"])
    assert injected.exit_code == 1 and json.loads(injected.stdout) == [] and "matches nothing" in injected.output


def test_flagged_filters_by_category_channel_and_score(sample_db):
    ids = {r["conversation_id"] for r in cli_json("flagged", "--db", str(sample_db), "--category", "escalation")}
    assert ids == {"call-0003", "chat-0002"}
    ids = {r["conversation_id"] for r in cli_json("flagged", "--db", str(sample_db), "--channel", "chat")}
    assert ids == {"chat-0002"}
    ids = {r["conversation_id"] for r in cli_json("flagged", "--db", str(sample_db), "--min-score", "50")}
    assert ids == {"call-0003", "transcript-0001"}
    rows = cli_json("flagged", "--db", str(sample_db))
    assert rows[0]["escalation"] and not rows[-1]["escalation"]  # escalations first


def test_escalations_view_has_the_clients_words(sample_db):
    cols, rows = open_store(sample_db).query("SELECT * FROM escalations WHERE rule_id = ? AND conversation_id = ?",
                             [COMPLAINT, "call-0003"])
    [row] = [dict(zip(cols, r, strict=True)) for r in rows]
    assert row["speaker"] == "client" and "жалоб" in row["matched"].lower()


def test_a_verdict_changes_rule_precision_and_survives_rescoring(sample_db, tmp_path):
    key = complaint_key(sample_db)
    before = {r["rule_id"]: r for r in cli_json("precision", "--db", str(sample_db))}
    assert before[COMPLAINT]["reviewed"] == 0 and before[COMPLAINT]["false_positive_share"] is None
    result = runner.invoke(app, ["review", "call-0003", "false_positive", "--by", "Анна Лид", "--finding", key,
                                 "--comment", "клиент цитирует", "--db", str(sample_db)])
    assert result.exit_code == 0, result.output
    after = {r["rule_id"]: r for r in cli_json("precision", "--db", str(sample_db))}
    assert (after[COMPLAINT]["reviewed"], after[COMPLAINT]["false_positive"]) == (1, 1)
    assert after[COMPLAINT]["false_positive_share"] == 1.0

    rules = tmp_path / "rules"
    shutil.copytree(REPO / "scripts_rules", rules)
    (rules / "stop_word_parasites.yml").unlink()
    (rules / "stop_word_parasites.test.txt").unlink()
    result = runner.invoke(app, ["rescore", "--db", str(sample_db), "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    assert open_store(sample_db).query("SELECT count(DISTINCT ruleset_version) FROM scores")[1][0][0] == 2
    [finding] = queries.findings(open_store(sample_db), queries.Filters(flagged=None, rule=COMPLAINT,
                                                            conversation_id="call-0003"))
    assert finding["finding_key"] == key and finding["verdict"] == "false_positive"
    assert finding["reviewer"] == "Анна Лид"
    again = {r["rule_id"]: r for r in cli_json("precision", "--db", str(sample_db))}
    assert again[COMPLAINT]["false_positive"] == 1


def test_latest_verdict_wins_and_history_is_kept(sample_db):
    key = complaint_key(sample_db)
    open_store(sample_db).add_review(Review("call-0003", "false_positive", "a", key))
    open_store(sample_db).add_review(Review("call-0003", "confirmed", "b", key, "перепроверил"))
    open_store(sample_db).add_review(Review("call-0003", "disputed", "c"))  # the whole conversation
    detail = queries.conversation(open_store(sample_db), "call-0003")
    [finding] = [f for f in detail["findings"] if f["finding_key"] == key]
    assert (finding["verdict"], finding["reviewer"]) == ("confirmed", "b")
    assert detail["review"]["verdict"] == "disputed"
    assert len(queries.reviews(open_store(sample_db), "call-0003")) == 3
    confirmed = queries.findings(open_store(sample_db), queries.Filters(flagged=None, verdict="confirmed"))
    assert [f["finding_key"] for f in confirmed] == [key]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["call-0003", "wrong"], "verdict must be one of"),
        (["call-0003", "confirmed", "--finding", "nope@1@1.0"], "finding nope@1@1.0 not found"),
        (["no-such-call", "confirmed"], "no-such-call: conversation not found"),
        (["call-0003", "confirmed", "--by", " "], "reviewer is required"),
    ],
)
def test_bad_verdicts_are_refused_with_a_reason(sample_db, args, message):
    if "--by" not in args:
        args = [*args, "--by", "lead"]
    result = runner.invoke(app, ["review", *args, "--db", str(sample_db)])
    assert result.exit_code == 2 and message in result.output
    assert open_store(sample_db).query("SELECT count(*) FROM reviews")[1][0][0] == 0


def test_conversation_list_sorts_pages_and_refuses_unknown_sort(sample_db):
    everything = queries.conversations(open_store(sample_db), queries.Filters(flagged=None), sort="score", limit=3)
    assert everything.total == 7 and len(everything.rows) == 3
    scores = [r["total"] for r in everything.dicts()]
    assert scores == sorted(scores)
    second = queries.conversations(open_store(sample_db), queries.Filters(flagged=None), sort="score", limit=3,
                                   offset=3)
    assert not {r[0] for r in everything.rows} & {r[0] for r in second.rows}
    with pytest.raises(ValueError, match="sort must be one of"):
        queries.conversations(open_store(sample_db), sort="total; DROP TABLE scores")
    since = queries.conversations(open_store(sample_db), queries.Filters(flagged=None, since=datetime.fromisoformat(
        "2026-11-27T12:00:00+00:00")))
    assert {r[0] for r in since.rows} == {"call-0004", "chat-0002", "transcript-0001"}


def test_an_older_database_is_upgraded_when_first_read(tmp_path):
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                "applied_at TIMESTAMPTZ NOT NULL)")
    folder = resources.files("qa.store") / "migrations"
    for number, name in [(1, "001_initial.sql"), (2, "002_views.sql")]:
        con.execute((folder / name).read_text(encoding="utf-8"))
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [number, name])
    con.close()
    columns, rows = open_store(db).query("SELECT * FROM rule_precision")
    assert "false_positive_share" in columns and rows == []
    versions = open_store(db).query("SELECT version FROM schema_migrations ORDER BY 1")[1]
    shipped = sorted(int(e.name.split("_", 1)[0]) for e in folder.iterdir() if e.name.endswith(".sql"))
    assert [v[0] for v in versions] == shipped and shipped[:3] == [1, 2, 3]
