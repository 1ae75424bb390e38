"""The write path without keys on the big tables (migration 013): every write still leaves one copy of each
conversation, its turns, scores and findings; a second conversation with a taken id in one write is a failure
naming both files; the current results equal a rebuild; an older database loses its keys and keeps its rows, in
id order; a lake skips the migration. Through a real DuckDB file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import duckdb
import pytest

from qa.records import Conversation, Finding, Score, ScoredConversation, Utterance
from qa.store import lake, open_store
from qa.store.current import refresh_current

BIG = ("conversations", "utterances", "findings", "scores")
UNIQUE = {
    "conversations": "conversation_id",
    "utterances": "conversation_id, idx",
    "findings": "conversation_id, ruleset_version, finding_idx",
    "scores": "conversation_id, ruleset_version",
}


def scored(cid: str, version: str = "v1", quotes: tuple[str, ...] = ("не знаю",), path: str | None = None,
           sha: str | None = None) -> ScoredConversation:
    conv = Conversation(conversation_id=cid, channel="call", source_path=path or f"inbox/{cid}.flac",
                        content_sha256=sha or f"sha-{cid}", operator_id="op-1", team="team-1",
                        utterances=[Utterance("operator", 0.0, 2.0, "Добрый день"),
                                    Utterance("client", 2.5, 4.0, "Здравствуйте")])
    findings = [Finding(f"rule_{i}", "stop_word", "phrase", "low", "operator", float(i), i + 0.5, q, utterance_idx=0)
                for i, q in enumerate(quotes)]
    return ScoredConversation(conv, version, findings, [], {}, Score(40.0, False, True, False))


def duplicates(db: Path) -> dict[str, int]:
    """Rows beyond the first of each key, per big table."""
    return {t: open_store(db).query(f"SELECT count(*) - count(DISTINCT ({k})) FROM {t}")[1][0][0]
            for t, k in UNIQUE.items()}


def counts(db: Path) -> dict[str, int]:
    return {t: open_store(db).query(f"SELECT count(*) FROM {t}")[1][0][0] for t in BIG}


def current_equals_rebuild(db: Path) -> bool:
    with open_store(db).connect() as con:
        kept = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in ("current_scores",
                                                                                       "current_findings")}
        con.execute("BEGIN")
        refresh_current(con)
        rebuilt = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in kept}
        con.execute("ROLLBACK")
    return kept == rebuilt


def test_the_big_tables_have_no_keys_and_no_indexes(tmp_path):
    db = tmp_path / "qa.duckdb"
    open_store(db).write_results("run-1", [scored("a")])
    _, keys = open_store(db).query("SELECT table_name FROM information_schema.table_constraints WHERE constraint_type "
                                   "IN ('PRIMARY KEY', 'UNIQUE') AND table_name IN ('conversations', 'utterances', "
                                   "'findings', 'scores')")
    assert keys == []
    assert open_store(db).query("SELECT index_name FROM duckdb_indexes() WHERE table_name IN ('conversations', "
                                "'utterances', 'findings', 'scores')")[1] == []
    _, nullable = open_store(db).query("SELECT is_nullable FROM information_schema.columns WHERE table_name = "
                                       "'utterances' AND column_name = 'conversation_id'")
    assert nullable == [("NO",)]


def test_writing_again_and_rescoring_leave_one_copy_of_everything(tmp_path):
    db = tmp_path / "qa.duckdb"
    store = open_store(db)
    store.write_results("run-1", [scored("a", quotes=("x", "y")), scored("b")])
    store.write_results("run-2", [scored("a", quotes=("z",), sha="sha-a2")])  # the file changed: replaced
    store.write_rescored("rescore-1", [scored("a", "v2", ("p", "q", "r")), scored("b", "v2", ())])
    store.write_rescored("rescore-2", [scored("a", "v2", ("s",))])  # the same version again: replaced
    assert duplicates(db) == dict.fromkeys(BIG, 0)
    assert counts(db) == {"conversations": 2, "utterances": 4, "findings": 1 + 1 + 1, "scores": 4}
    assert current_equals_rebuild(db)


def test_a_second_conversation_with_a_taken_id_in_one_write_is_a_failure_naming_both_files(tmp_path):
    db = tmp_path / "qa.duckdb"
    first, second = scored("same", path="inbox/a.flac", sha="sha-1"), scored("same", path="inbox/b.flac", sha="sha-2")
    failures = open_store(db).write_results("run-1", [first, scored("other"), second])
    assert [(f.source_path, f.stage) for f in failures] == [("inbox/b.flac", "input")]
    assert "inbox/a.flac" in failures[0].error and "'same'" in failures[0].error
    assert open_store(db).query("SELECT source_path FROM conversations WHERE conversation_id = 'same'")[1] == [
        ("inbox/a.flac",)]
    assert open_store(db).query("SELECT source_path, stage FROM failures")[1] == [("inbox/b.flac", "input")]
    assert duplicates(db) == dict.fromkeys(BIG, 0)


def test_an_older_database_loses_its_keys_and_keeps_its_rows_in_id_order(tmp_path):
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                "applied_at TIMESTAMPTZ NOT NULL)")
    for entry in sorted((resources.files("qa.store") / "migrations").iterdir(), key=lambda e: e.name):
        number = int(entry.name.split("_", 1)[0]) if entry.name.endswith(".sql") else 99
        if number < 13:
            con.execute(entry.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [number, entry.name])
    for cid in ("c", "a", "b"):  # stored out of id order, as nights and rescores interleave
        con.execute("INSERT INTO conversations (conversation_id, channel, source_path, content_sha256, ingested_at) "
                    "VALUES (?, 'chat', ?, ?, now())", [cid, f"{cid}.chat.json", f"sha-{cid}"])
        con.execute("INSERT INTO utterances (conversation_id, idx, speaker, start_s, end_s, text, lemmas) "
                    "VALUES (?, 0, 'client', 0, 1, 'Здравствуйте', 'здравствуйте')", [cid])
    assert con.execute("SELECT count(*) FROM duckdb_indexes() WHERE table_name = 'conversations'").fetchone()[0] == 1
    con.close()
    assert open_store(db).query("SELECT conversation_id FROM conversations")[1] == [("a",), ("b",), ("c",)]
    assert open_store(db).query("SELECT count(*) FROM utterances")[1] == [(3,)]
    assert open_store(db).query("SELECT max(version) FROM schema_migrations")[1][0][0] >= 13
    open_store(db).write_results("run-1", [scored("a")])  # replaces the old copy of a, by key
    assert duplicates(db) == dict.fromkeys(BIG, 0)
    assert open_store(db).query("SELECT channel FROM conversations WHERE conversation_id = 'a'")[1] == [("call",)]


def test_a_lake_skips_a_migration_only_a_file_needs():
    sql = (resources.files("qa.store") / "migrations" / "013_unkeyed_big_tables.sql").read_text(encoding="utf-8")
    assert lake.translate_migration(sql) == []
    assert lake.translate_migration("-- ducklake: skip\nDROP TABLE x;") == []
    assert lake.translate_migration("-- not skipped\nCREATE TABLE x (a INTEGER PRIMARY KEY);") != []


def test_a_file_records_a_migration_only_a_lake_needs_and_runs_none_of_it(tmp_path):
    from qa.store.migrations import lake_only

    sql = (resources.files("qa.store") / "migrations" / "020_lake_search_layout.sql").read_text(encoding="utf-8")
    assert lake_only(sql) and [s.split()[0] for s in lake.translate_migration(sql)] == ["ALTER", "CALL"]
    assert not lake_only("-- 013 …\n-- ducklake: skip\nDROP TABLE x;")
    with open_store(tmp_path / "qa.duckdb").connect() as con:  # created and migrated: 020 recorded, nothing run
        assert con.execute("SELECT count(*) FROM schema_migrations WHERE version = 20").fetchone() == (1,)


@pytest.mark.parametrize("write", ["nightly", "rescore"])
def test_a_failed_write_changes_nothing(tmp_path, monkeypatch, write):
    """Without keys, the transaction is what keeps a write whole: a failure after the deletes leaves every row."""
    from qa.store import scores

    db = tmp_path / "qa.duckdb"
    open_store(db).write_results("run-1", [scored("a", quotes=("x", "y"))])
    before = {t: open_store(db).query(f"SELECT * FROM {t} ORDER BY ALL")[1] for t in BIG}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(scores, "refresh_current", broken)  # the current results: rebuilt, or from the new rows
    monkeypatch.setattr(scores, "current_from_page", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        if write == "nightly":
            open_store(db).write_results("run-2", [scored("a", quotes=("z",), sha="sha-a2")])
        else:
            open_store(db).write_rescored("rescore-1", [scored("a", "v1", ("z",))])
    assert {t: open_store(db).query(f"SELECT * FROM {t} ORDER BY ALL")[1] for t in BIG} == before
