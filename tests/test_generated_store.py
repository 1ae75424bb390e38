"""The generated store of `make bench-queries CONVERSATIONS=N` has the promised shape, and on it the team lead's
queries over the current-results tables answer exactly what the old window-function views answered."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

from qa.store import queries

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import baseline_reads
import bench_queries
from store_at_scale import END_DAY, generate

from qa.store import open_store


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("generated") / "qa.duckdb"
    generate(db, 3000, log=lambda _: None, memory_limit="1GB")
    return db


def test_the_generated_store_has_the_promised_shape(generated):
    _, [row] = open_store(generated).query("""
        SELECT (SELECT count(*) FROM conversations), (SELECT count(DISTINCT team) FROM conversations),
               (SELECT count(DISTINCT operator_id) FROM conversations),
               (SELECT count(DISTINCT ruleset_version) FROM scores), (SELECT count(*) FROM scores),
               (SELECT count(*) FROM current_scores),
               (SELECT count(DISTINCT ruleset_version) FROM current_scores),
               (SELECT round(avg(findings)) FROM current_scores WHERE flagged),
               (SELECT max(started_at)::DATE - min(started_at)::DATE FROM conversations)""")
    assert row[:7] == (3000, 20, 400, 3, 9000, 3000, 1)
    assert row[7] == 10 and row[8] >= 363


def test_todays_reads_answer_what_the_old_views_answered(generated):
    cases = bench_queries.team_lead_cases(generated, date.fromisoformat(END_DAY))
    assert len(cases) == 5
    for name, new, old in cases:
        assert bench_queries._comparable(new()) == bench_queries._comparable(old()), name
    page = queries.conversations(open_store(generated), queries.Filters(flagged=None), sort="findings", descending=True,
                                 limit=20, offset=40)
    before = baseline_reads.conversations(generated, baseline_reads.Filters(flagged=None), sort="findings",
                                          descending=True, limit=20, offset=40)
    assert (page.total, page.rows) == (before.total, before.rows) and page.total == 3000


def test_the_generated_store_is_indexed_and_search_answers_what_a_full_scan_answers(generated):
    store = open_store(generated)
    _, [(sentences, utterances, lemmas)] = store.query(
        "SELECT (SELECT count(*) FROM search_sentences), (SELECT count(*) FROM utterances), "
        "(SELECT count(*) FROM search_terms)")
    assert sentences == utterances and lemmas > 300
    cases = bench_queries.search_cases(generated, date.fromisoformat(END_DAY))
    compared = [(name, new, old) for name, new, old in cases if old is not None]
    assert len(compared) == 3
    for name, new, old in compared:
        answer = new()
        assert answer == old() and answer[0] > 0, name
    for name, new, _ in cases:
        assert new()[0] >= 0, name
