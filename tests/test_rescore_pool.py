"""The fast rescore path (pages scored in worker processes, rows built there, written on a held connection, current
results from the page's own rows) stores exactly what the plain path stores: the scorer's own findings and scores,
the current results a full rebuild gives, the search rows a full reindex gives — real Prefect flow, real DuckDB file,
a generated store with calls and chats, reviewed findings, undated conversations and stale tokens."""

from __future__ import annotations

import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qa.store import open_store
from qa.store.current import refresh_current
from qa.store.rescore import load_page
from qa.store.rows import score_rows
from qa.store.search_index import refresh_search
from qa.text.analysis_version import analysis_version

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from store_at_scale import generate

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "scripts_rules"
N = 300
# timestamps and run ids are the write's own; a carried review gets a new id
SCORES = ("conversation_id, ruleset_version, total, passed, flagged, escalation, auto_failed, reasons::VARCHAR, "
          "details::VARCHAR")
FINDINGS = ("conversation_id, ruleset_version, finding_idx, rule_id, category, kind, severity, speaker, start_s, "
            "end_s, quote, message, utterance_idx, details::VARCHAR")


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> tuple[Path, list[str]]:
    """A generated store, with a few undated conversations and a call and a chat whose tokens are stale (as a real
    store has); and those two ids."""
    db = tmp_path_factory.mktemp("pool") / "qa.duckdb"
    generate(db, N, log=lambda _: None, memory_limit="1GB")
    with open_store(db).connect() as con:
        pick = "SELECT conversation_id FROM conversations WHERE channel = ? ORDER BY 1 LIMIT 2 OFFSET ?"
        undated = [r[0] for channel, at in (("call", 3), ("chat", 40))
                   for r in con.execute(pick, [channel, at]).fetchall()]
        stale = [con.execute(pick, [channel, at]).fetchone()[0] for channel, at in (("call", 7), ("chat", 60))]
        con.execute("BEGIN")
        con.execute("UPDATE conversations SET started_at = NULL WHERE conversation_id IN (SELECT unnest(?))", [undated])
        con.execute("UPDATE utterances SET analysis_version = 'older' WHERE conversation_id IN (SELECT unnest(?))",
                    [stale])
        refresh_current(con)
        refresh_search(con)
        con.execute("COMMIT")
    return db, stale


def _rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    return open_store(db).query(sql, params or [])[1]


def _current(db: Path) -> tuple[list[tuple], list[tuple]]:
    scores = _rows(db, f"SELECT {SCORES}, channel, team, operator_id, started_at, duration_s, "
                       "CASE WHEN started_at IS NULL THEN NULL ELSE dated_at END, findings, rules, top_quote "
                       "FROM current_scores ORDER BY conversation_id")
    findings = _rows(db, f"SELECT {FINDINGS}, finding_key, channel, team, operator_id, total, flagged, first_of_rule, "
                         "verdict FROM current_findings ORDER BY conversation_id, finding_idx")
    return scores, findings


def _search(db: Path) -> list[tuple]:
    """The search rows with their lemmas (term ids are the lexicon's own numbering)."""
    lemma = dict(_rows(db, "SELECT term_id, lemma FROM search_terms"))
    return [(*row[:-2], [lemma[t] for t in row[-2]], row[-1]) for row in _rows(
        db, "SELECT conversation_id, utterance_idx, speaker, start_s, text, team, channel, terms, starts "
            "FROM search_sentences ORDER BY 1, 2")]


@pytest.mark.slow
def test_the_pooled_rescore_writes_what_the_scorer_and_a_full_rebuild_give(store_path, tmp_path, scorer):
    from qa.flows.rescore import rescore_qa
    from qa.rules.ruleset import ruleset_version

    db = tmp_path / "qa.duckdb"
    shutil.copy(store_path[0], db)
    stale = store_path[1]
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    stop = next(p for p in sorted(rules.glob("*.yml")) if "stop" in p.name)
    stop.write_text(stop.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    version = ruleset_version(rules)
    # what the plain path stores: every conversation scored by the scorer itself, from its current stored tokens
    expected_scores, expected_findings = [], []
    for c in load_page(open_store(db), None, N, analysis_version()):
        findings, [score] = score_rows(scorer.score(c), "", datetime.now(UTC))
        expected_scores.append(tuple(score[k] for k in ("conversation_id", "total", "passed", "flagged",
                                                          "escalation", "auto_failed", "reasons", "details")))
        expected_findings += [tuple(f[k] for k in ("conversation_id", "finding_idx", "rule_id", "start_s", "end_s",
                                                    "quote", "utterance_idx", "details")) for f in findings]

    summary = rescore_qa(db=str(db), rules=str(rules), chunk_size=50, processes=2)

    assert (summary["processed"], summary["failed"], summary["reanalysed"]) == (N, 0, len(stale))
    settings = _rows(db, "SELECT settings->>'processes' FROM runs WHERE run_id = ?", [summary["run_id"]])
    assert settings == [("2",)]
    assert _rows(db, "SELECT conversation_id, total, passed, flagged, escalation, auto_failed, reasons::VARCHAR, "
                     "details::VARCHAR FROM scores WHERE ruleset_version = ? ORDER BY 1", [version]) == expected_scores
    assert _rows(db, "SELECT conversation_id, finding_idx, rule_id, start_s, end_s, quote, utterance_idx, "
                     "details::VARCHAR FROM findings WHERE ruleset_version = ? ORDER BY 1, 2",
                 [version]) == expected_findings
    fresh = _rows(db, "SELECT DISTINCT analysis_version FROM utterances WHERE conversation_id IN (SELECT unnest(?))",
                  [stale])
    assert fresh == [(analysis_version(),)]  # the re-analysed tokens are stored for the next rescore
    # the current results and the search rows kept page by page are what a full rebuild gives
    kept, kept_search = _current(db), _search(db)
    assert {r[1] for r in kept[0]} == {version} and len(kept[0]) == N
    with open_store(db).connect() as con:
        con.execute("BEGIN")
        refresh_current(con)
        refresh_search(con)
        con.execute("COMMIT")
    assert _current(db) == kept
    assert _search(db) == kept_search


def test_a_page_cut_into_slices_scores_as_the_whole_page(store_path):
    """What each scoring process gets of a page (``StoredPage.slices``) holds every conversation once, in order,
    with exactly its utterances; the slices' rows joined are the whole page's rows (calls, chats, undated, stale)."""
    import pyarrow as pa

    from qa.run.rescoring import joined, score_stored
    from qa.store.rescore import read_page

    page = read_page(open_store(store_path[0]), None, 240, analysis_version())
    whole = score_stored(page, str(RULES))
    assert whole.reanalysed == len(store_path[1]) and whole.rows.indexed  # stale and undated ones are in it
    for parts, sizes in ((1, [240]), (2, [120, 120]), (7, [34, 34, 34, 35, 34, 34, 35]), (500, [1] * 240)):
        slices = page.slices(parts)
        assert [len(s) for s in slices] == sizes
        assert [i for s in slices for i in s.ids()] == page.ids()
        assert pa.concat_tables([s.utterances for s in slices]).equals(page.utterances)
        if parts in (2, 7):
            parted = joined([score_stored(s, str(RULES)) for s in slices])
            assert (parted.failures, parted.reanalysed, parted.rows.flagged) == (whole.failures, whole.reanalysed,
                                                                                whole.rows.flagged)
            for name in ("ids", "findings", "scores", "tokens"):  # the columns written, in the same order
                assert getattr(parted.rows, name) == getattr(whole.rows, name)
            # the conversations whose search rows are rewritten (the writer sorts them: their order is free)
            assert sorted(c.conversation_id for c in parted.rows.indexed) == sorted(
                c.conversation_id for c in whole.rows.indexed)
