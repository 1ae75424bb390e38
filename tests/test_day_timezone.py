"""One time zone for dates: `--since`/`--until`, `day` in the daily views and `qa stats --by day` all read the
configured zone (QA_TIMEZONE or qa.toml, default Europe/Moscow), and `--until` is inclusive. Through a real
DuckDB file written by the store and read by the CLI."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.config import ConfigError
from qa.records import Conversation, Finding, Score, ScoredConversation, Utterance
from qa.store import open_store, queries
from qa.store.days import define_day

runner = CliRunner()

# Three calls around midnight: their day depends on the zone.
STARTS = {
    "late": "2026-11-27T23:30:00+03:00",  # 20:30 UTC: the 27th in Moscow and UTC, the 28th in Vladivostok
    "after-midnight": "2026-11-28T00:30:00+03:00",  # 21:30 UTC the 27th: the 28th in Moscow, the 27th in UTC
    "noon": "2026-11-28T12:00:00+03:00",  # the 28th everywhere here
}


def scored(cid: str, started: str) -> ScoredConversation:
    conv = Conversation(conversation_id=cid, channel="chat", source_path=f"inbox/{cid}.json",
                        content_sha256=f"sha-{cid}", operator_id="op-1", team="team-1",
                        started_at=datetime.fromisoformat(started), speaker_mode="chat",
                        utterances=[Utterance("operator", 0.0, 1.0, "Добрый день")])
    finding = Finding("stop_word_dont_know", "stop_word", "phrase", "medium", "operator", 0.0, 1.0, "не знаю",
                      utterance_idx=0)
    return ScoredConversation(conv, "v1", [finding], [], {}, Score(40.0, False, True, False))


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tz") / "qa.duckdb"
    open_store(path).write_results("run-1", [scored(cid, at) for cid, at in STARTS.items()])
    return path


def cli_json(*args: str) -> list[dict]:
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(("zone", "since", "until", "expected"), [
    ("Europe/Moscow", "2026-11-27", "2026-11-27", {"late"}),  # 23:30 Moscow is still the 27th
    ("Europe/Moscow", "2026-11-28", "2026-11-28", {"after-midnight", "noon"}),
    ("UTC", "2026-11-27", "2026-11-27", {"late", "after-midnight"}),  # 21:30 UTC: the 27th in UTC
    ("UTC", "2026-11-28", "2026-11-28", {"noon"}),
    ("Asia/Vladivostok", "2026-11-28", "2026-11-28", {"late", "after-midnight", "noon"}),
    ("Europe/Moscow", None, "2026-11-28T00:30:00", {"late", "after-midnight"}),  # --until a moment: inclusive
    ("Europe/Moscow", None, "2026-11-28T00:29:59", {"late"}),
    ("UTC", "2026-11-27T21:30:00", None, {"after-midnight", "noon"}),  # a bare time is read in the zone
])
def test_filters_and_day_agree_in_the_configured_zone(db, monkeypatch, zone, since, until, expected):
    monkeypatch.setenv("QA_TIMEZONE", zone)
    bounds = [*(["--since", since] if since else []), *(["--until", until] if until else [])]
    flagged = cli_json("flagged", "--db", str(db), *bounds)
    assert {r["conversation_id"] for r in flagged} == expected
    if since and until and len(since) == len(until) == 10:  # whole days: the daily views count the same ones
        days = cli_json("stats", "--by", "day", "--db", str(db), *bounds)
        assert [(d["day"], d["conversations"]) for d in days] == [(until, len(expected))]
        _, rows = open_store(db).query("SELECT sum(conversations) FROM daily_scores WHERE day BETWEEN ? AND ?",
                              [since, until])
        assert rows == [(len(expected),)]


@pytest.mark.parametrize(("zone", "days"), [
    ("Europe/Moscow", {"2026-11-27": 1, "2026-11-28": 2}),
    ("UTC", {"2026-11-27": 2, "2026-11-28": 1}),
    ("America/New_York", {"2026-11-27": 2, "2026-11-28": 1}),
    ("Asia/Vladivostok", {"2026-11-28": 3}),
])
def test_day_in_every_daily_view_follows_the_zone_without_rescoring(db, monkeypatch, zone, days):
    monkeypatch.setenv("QA_TIMEZONE", zone)
    _, scores = open_store(db).query("SELECT day::VARCHAR, sum(conversations) FROM daily_scores GROUP BY 1 ORDER BY 1")
    _, hits = open_store(db).query("SELECT day::VARCHAR, sum(hits) FROM daily_rule_hits GROUP BY 1 ORDER BY 1")
    assert dict(scores) == days and dict(hits) == days
    by_day = {r["day"]: r["conversations"] for r in cli_json("stats", "--by", "day", "--db", str(db))}
    assert by_day == days
    _, trend = queries.daily_trend(open_store(db))
    assert {str(r[0]): r[1] for r in trend} == days


def test_the_zone_comes_from_qa_toml_when_no_variable_is_set(db, monkeypatch, tmp_path):
    monkeypatch.delenv("QA_TIMEZONE", raising=False)
    monkeypatch.delenv("QA_CONFIG", raising=False)
    (tmp_path / "qa.toml").write_text('[qa]\ntimezone = "UTC"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    _, rows = open_store(db).query("SELECT day::VARCHAR, sum(conversations) FROM daily_scores GROUP BY 1 ORDER BY 1")
    assert dict(rows) == {"2026-11-27": 2, "2026-11-28": 1}
    assert queries.day_bound("2026-11-28") == datetime.fromisoformat("2026-11-28T00:00:00+00:00")


def test_without_any_setting_days_are_moscow_days(db, monkeypatch, tmp_path):
    monkeypatch.delenv("QA_TIMEZONE", raising=False)
    monkeypatch.delenv("QA_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    _, rows = open_store(db).query("SELECT day::VARCHAR, sum(conversations) FROM daily_scores GROUP BY 1 ORDER BY 1")
    assert dict(rows) == {"2026-11-27": 1, "2026-11-28": 2}
    assert queries.day_bound("2026-11-28", end=True) == datetime.fromisoformat("2026-11-29T00:00:00+03:00")


def test_an_unknown_zone_is_refused_with_its_name(db, monkeypatch):
    monkeypatch.setenv("QA_TIMEZONE", "Europe/Moskva")
    with pytest.raises(ConfigError, match="QA_TIMEZONE: unknown time zone 'Europe/Moskva'"):
        open_store(db).query("SELECT * FROM daily_scores")
    result = runner.invoke(app, ["stats", "--by", "day", "--db", str(db)])
    assert result.exit_code == 2 and "Europe/Moskva" in result.output


@pytest.mark.parametrize("zone", ["Europe/Moscow", "UTC", "Asia/Kolkata", "Asia/Kathmandu", "Europe/Samara",
                                  "Europe/Berlin", "America/New_York"])
def test_the_fast_day_agrees_with_the_exact_conversion(db, zone):
    with open_store(db).connect(read_only=True) as con:
        define_day(con, zone)
        wrong = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE qa_day(t, NULL) <> CAST(timezone(?, t) AS DATE)) "
            "FROM range(TIMESTAMPTZ '1995-01-01 00:00:00+00', TIMESTAMPTZ '2035-01-01 00:00:00+00', "
            "INTERVAL '7 hours 13 minutes') r(t)", [zone]).fetchone()
    assert wrong[0] > 40_000 and wrong[1] == 0
