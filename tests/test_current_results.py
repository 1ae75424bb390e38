"""The current results (current_scores, current_findings) are kept at write time: they always equal a rebuild from
the base tables, follow the most recently scored rule set version, survive rewrites, purge and carried verdicts,
and an older database gets them backfilled by migration 006. Through a real DuckDB file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import duckdb
import pytest

from qa.records import Conversation, Finding, Score, ScoredConversation, Utterance
from qa.store import Review, open_store, queries, retention
from qa.store import scores as store_scores
from qa.store.current import refresh_current

CURRENT = ("current_scores", "current_findings")


def scored(cid: str, version: str, quotes: list[str], total: float = 40.0, team: str = "team-1",
           started: datetime | None = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)) -> ScoredConversation:
    conv = Conversation(conversation_id=cid, channel="call", source_path=f"inbox/{cid}.flac",
                        content_sha256=f"sha-{cid}", operator_id="op-1", team=team, started_at=started,
                        utterances=[Utterance("operator", 0.0, 2.0, "Добрый день, не знаю")])
    findings = [Finding(f"rule_{i}", "stop_word", "phrase", "high" if i == 0 else "low", "operator", float(i),
                        float(i) + 0.5, quote, utterance_idx=0) for i, quote in enumerate(quotes)]
    return ScoredConversation(conv, version, findings, [], {}, Score(total, total >= 60, total < 60, False))


def snapshot(db: Path) -> dict[str, list[tuple]]:
    return {t: open_store(db).query(f"SELECT * FROM {t} ORDER BY ALL")[1] for t in CURRENT}


def rebuilt(db: Path) -> dict[str, list[tuple]]:
    """The current tables recomputed from scratch from the base tables (the invariant the writers keep)."""
    with open_store(db).connect() as con:
        con.execute("BEGIN")
        refresh_current(con)
        out = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in CURRENT}
        con.execute("ROLLBACK")
    return out


def current(db: Path) -> dict[str, tuple]:
    _, rows = open_store(db).query("SELECT conversation_id, ruleset_version, total, findings, top_quote "
                              "FROM current_scores ORDER BY 1")
    return {r[0]: r[1:] for r in rows}


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "qa.duckdb"
    open_store(path).write_results("run-1", [scored("a", "v1", ["не знаю", "как бы"]), scored("b", "v1", [], 90.0)])
    return path


def test_the_current_score_is_the_most_recently_scored_version(db):
    assert current(db) == {"a": ("v1", 40.0, 2, "не знаю"), "b": ("v1", 90.0, 0, None)}
    open_store(db).write_rescored("rescore-1", [scored("a", "v2", ["блин"], 55.0), scored("b", "v2", ["ну"], 70.0)])
    assert current(db) == {"a": ("v2", 55.0, 1, "блин"), "b": ("v2", 70.0, 1, "ну")}
    assert open_store(db).query("SELECT count(*) FROM scores")[1] == [(4,)]  # older versions are kept
    open_store(db).write_rescored("rescore-2", [scored("a", "v1", ["не знаю"], 41.0)])  # back to v1, scored last
    assert current(db)["a"] == ("v1", 41.0, 1, "не знаю")
    assert snapshot(db) == rebuilt(db)
    keys = open_store(db).query("SELECT finding_key FROM latest_findings WHERE conversation_id = 'a'")[1]
    assert keys == [("rule_0@0@0.0",)]


def test_a_rewritten_conversation_drops_its_other_versions(db):
    open_store(db).write_rescored("rescore-1", [scored("a", "v2", ["блин"], 55.0)])
    open_store(db).write_results("run-2", [scored("a", "v1", ["x", "y", "z"], 30.0, team="team-2")])
    assert current(db)["a"] == ("v1", 30.0, 3, "x")
    assert open_store(db).query("SELECT team FROM current_scores WHERE conversation_id = 'a'")[1] == [("team-2",)]
    assert snapshot(db) == rebuilt(db)


def test_lists_and_stats_read_the_current_results(db):
    open_store(db).write_rescored("rescore-1", [scored("a", "v2", ["блин"], 55.0)])
    page = queries.conversations(open_store(db), queries.Filters(flagged=None), sort="score")
    assert page.total == 2 and [(r["conversation_id"], r["findings"]) for r in page.dicts()] == [("a", 1), ("b", 0)]
    _, hits = queries.rule_hits(open_store(db))
    assert [(r[0], r[2]) for r in hits] == [("rule_0", 1)]
    detail = queries.conversation(open_store(db), "a")
    assert detail["ruleset_version"] == "v2" and [f["quote"] for f in detail["findings"]] == ["блин"]
    assert queries.conversation(open_store(db), "nope") is None


def test_a_failed_write_leaves_the_current_results_as_they_were(db, monkeypatch):
    before = snapshot(db)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store_scores, "carry_reviews", broken)
    with pytest.raises(RuntimeError):
        open_store(db).write_rescored("rescore-1", [scored("a", "v2", ["блин"], 55.0)])
    assert snapshot(db) == before


def test_purge_blanks_quotes_in_the_current_results_too(db):
    key = open_store(db).query("SELECT finding_key FROM latest_findings WHERE conversation_id = 'a' LIMIT 1")[1][0][0]
    open_store(db).add_review(Review("a", "confirmed", "lead", key, "звонил Иван"))
    result = retention.purge(open_store(db), timedelta(days=1), now=datetime(2026, 12, 30, tzinfo=UTC))
    assert result.conversations == 2
    assert open_store(db).query("SELECT count(*) FROM current_findings WHERE quote <> ''")[1] == [(0,)]
    assert open_store(db).query("SELECT top_quote FROM current_scores WHERE conversation_id = 'a'")[1] == [("",)]
    assert current(db)["a"][:3] == ("v1", 40.0, 2)  # scores and counts stay
    _, precision = queries.rule_precision(open_store(db))
    assert [(r[0], r[3]) for r in precision if r[0] == "rule_0"] == [("rule_0", 1)]  # the verdict stays attached
    assert snapshot(db) == rebuilt(db)


def test_a_carried_verdict_points_at_a_current_finding(db):
    open_store(db).add_review(Review("a", "false_positive", "lead", "rule_1@0@1.0"))
    moved = scored("a", "v2", ["не знаю", "как бы"])
    moved.findings[1] = Finding("rule_1", "stop_word", "phrase", "low", "operator", 1.2, 1.5, "как бы",
                                utterance_idx=0)  # a rule edit moved its start: 1.0 -> 1.2
    open_store(db).write_rescored("rescore-1", [moved])
    [finding] = queries.findings(open_store(db), queries.Filters(flagged=None, rule="rule_1"))
    assert (finding["finding_key"], finding["verdict"]) == ("rule_1@0@1.2", "false_positive")
    _, hits = queries.rule_hits(open_store(db))
    assert {r[0]: r[5] for r in hits}["rule_1"] == 1
    assert snapshot(db) == rebuilt(db)  # the carried verdict is in current_findings.verdict too


def test_an_older_database_gets_its_current_results_backfilled(tmp_path):
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                "applied_at TIMESTAMPTZ NOT NULL)")
    folder = resources.files("qa.store") / "migrations"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        number = int(entry.name.split("_", 1)[0]) if entry.name.endswith(".sql") else 99
        if number < 6:
            con.execute(entry.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [number, entry.name])
    con.execute("INSERT INTO conversations (conversation_id, channel, source_path, content_sha256, team, started_at, "
                "ingested_at) VALUES ('a', 'call', 'a.flac', 'sha', 't', '2026-11-27 09:00:00+00', now())")
    for version, scored_at, total in (("v1", "2026-11-27 10:00:00+00", 40.0), ("v2", "2026-11-28 10:00:00+00", 70.0)):
        con.execute("INSERT INTO scores (conversation_id, ruleset_version, total, passed, flagged, escalation, "
                    "auto_failed, scored_at) VALUES ('a', ?, ?, false, true, false, false, ?)",
                    [version, total, scored_at])
        con.execute("INSERT INTO findings (conversation_id, ruleset_version, finding_idx, rule_id, category, kind, "
                    "severity, speaker, start_s, end_s, quote, utterance_idx) "
                    "VALUES ('a', ?, 0, 'r', 'c', 'phrase', 'low', 'operator', 1.5, 2, ?, 3)", [version, version])
    con.close()
    assert current(db) == {"a": ("v2", 70.0, 1, "v2")}
    assert open_store(db).query("SELECT finding_key, quote FROM latest_findings")[1] == [("r@3@1.5", "v2")]
    assert snapshot(db) == rebuilt(db)
