"""`qa rescore` at scale: page by page through the task runner, resumable, reusing stored tokens while the text
analysis is unchanged — real Prefect flows over a real DuckDB file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.records import Token
from qa.store import open_store
from qa.store.rescore import load_page
from qa.store.rows import tokens_from_json, tokens_json
from qa.text import analysis_version as av

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
RULES = REPO / "scripts_rules"
N_CHATS = 12


def test_tokens_round_trip_through_json():
    tokens = (Token("Ёлки", "елки", "елка", 1.25, 1.5), Token("-нибудь", "нибудь", "нибудь", 0.0, 0.0))
    assert tokens_from_json(tokens_json(tokens)) == tokens


def test_the_analysis_version_covers_the_text_modules_their_data_and_dictionaries():
    parts = "\n".join(av.version_parts())
    for module in ("qa.text.analysis", "qa.text.normalize", "qa.text.tokenize", "qa.text.lemmatizer",
                   "qa.record_maker"):
        assert f"module {module} " in parts
    for data in ("lemmas.json", "normalize.json"):
        assert f"data {data} " in parts
    for dist in ("pymorphy3==", "pymorphy3-dicts-ru==", "num2words=="):
        assert f"dist {dist}" in parts
    assert "dist razdel==" not in parts  # the tokenizer is our own regexes now (razdel is its reference in tests)
    assert "data pii.json" not in parts  # unrelated data does not invalidate tokens
    assert av.analysis_version() == av.analysis_version() and len(av.analysis_version()) == 16


def test_the_analysis_version_moves_when_a_text_module_or_its_data_changes(tmp_path, monkeypatch):
    package = tmp_path / "qa"
    shutil.copytree(REPO / "qa", package, ignore=shutil.ignore_patterns("__pycache__", "web", "migrations"))
    monkeypatch.setattr(av, "PACKAGE_DIR", package)
    before = av.version_parts()
    text = package / "text"
    (text / "tokenize.py").write_text((text / "tokenize.py").read_text() + "\n# faster\n", encoding="utf-8")
    after_code = av.version_parts()
    assert after_code != before
    assert [p for p in after_code if p not in before] == [
        p for p in after_code if p.startswith("module qa.text.tokenize")]
    lemmas = json.loads((text / "data" / "lemmas.json").read_text(encoding="utf-8"))
    lemmas["overrides"]["есть"] = "есть"
    (text / "data" / "lemmas.json").write_text(json.dumps(lemmas, ensure_ascii=False), encoding="utf-8")
    assert next(p for p in av.version_parts() if p not in after_code).startswith("data lemmas.json")
    (package / "mystery.py").write_text("X = 1\n", encoding="utf-8")  # a new module the analysis does not import
    (text / "normalize.py").write_text((text / "normalize.py").read_text() + "\nfrom qa import mystery\n",
                                          encoding="utf-8")
    assert any(p.startswith("module qa.mystery ") for p in av.version_parts())  # followed through imports


@pytest.fixture(scope="module")
def scored_db(tmp_path_factory) -> Path:
    """A store made by the real nightly flow over 12 chats (copies of the sample chats with their own ids)."""
    from qa.flows.nightly import nightly_qa

    root = tmp_path_factory.mktemp("rescore")
    inbox = root / "inbox"
    inbox.mkdir()
    for i in range(N_CHATS):
        chat = json.loads((SAMPLES / ("chat_good.chat.json" if i % 2 else "chat_slow.chat.json")).read_text("utf-8"))
        chat["id"] = f"chat-{i:03d}"
        (inbox / f"c{i:03d}.chat.json").write_text(json.dumps(chat, ensure_ascii=False), encoding="utf-8")
    db = root / "qa.duckdb"
    summary = nightly_qa(inbox=str(inbox), db=str(db), rules=str(RULES), cache_dir=None)
    assert summary["processed"] == N_CHATS
    return db


@pytest.fixture
def db(scored_db, tmp_path) -> Path:
    copy = tmp_path / "qa.duckdb"
    shutil.copy(scored_db, copy)
    return copy


@pytest.fixture
def edited_rules(tmp_path) -> Path:
    """The default rules with one more stop word: a new rule set version."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    stop = next(p for p in sorted(rules.glob("*.yml")) if "stop" in p.name)
    stop.write_text(stop.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    return rules


def snapshot(db: Path, version: str) -> list[tuple]:
    return open_store(db).query("SELECT s.conversation_id, s.total, s.flagged, list(f.rule_id ORDER BY f.finding_idx) "
                     "FROM scores s LEFT JOIN findings f USING (conversation_id, ruleset_version) "
                     "WHERE s.ruleset_version = ? GROUP BY ALL ORDER BY 1", [version])[1]


def test_stored_tokens_are_written_with_their_analysis_version(scored_db):
    rows = open_store(scored_db).query("SELECT DISTINCT analysis_version FROM utterances")[1]
    assert rows == [(av.analysis_version(),)]
    [page] = [load_page(open_store(scored_db), None, 100, av.analysis_version())]
    assert len(page) == N_CHATS and all(u.tokens for c in page for u in c.utterances if u.text.strip())
    stale = load_page(open_store(scored_db), None, 100, "another-version")
    assert all(not u.tokens for c in stale for u in c.utterances)


def test_pages_follow_the_id_order_and_skip_purged_conversations(db):
    with open_store(db).connect() as con:
        con.execute("UPDATE conversations SET purged_at = now() WHERE conversation_id = 'chat-004'")
    first = load_page(open_store(db), None, 5)
    second = load_page(open_store(db), first[-1].conversation_id, 5)
    rest = load_page(open_store(db), second[-1].conversation_id, 5)
    ids = [c.conversation_id for c in first + second + rest]
    assert [len(first), len(second), len(rest)] == [5, 5, 1]
    assert ids == sorted(ids) and "chat-004" not in ids and len(set(ids)) == N_CHATS - 1
    assert load_page(open_store(db), rest[-1].conversation_id, 5) == []


@pytest.mark.slow
def test_rescore_reuses_tokens_and_scores_as_a_fresh_analysis_would(db, edited_rules):
    from qa.rules.ruleset import ruleset_version

    runner = CliRunner()
    reused = runner.invoke(app, ["rescore", "--db", str(db), "--rules", str(edited_rules), "--chunk-size", "5"])
    assert reused.exit_code == 0, reused.output
    assert f"Rescored {N_CHATS} conversations" in reused.output and f"({N_CHATS} from stored tokens" in reused.output
    version = ruleset_version(edited_rules)
    with_reuse = snapshot(db, version)
    assert len(with_reuse) == N_CHATS
    fresh = runner.invoke(app, ["rescore", "--db", str(db), "--rules", str(edited_rules), "--no-reuse-tokens"])
    assert fresh.exit_code == 0, fresh.output
    assert f"0 from stored tokens, {N_CHATS} analysed again" in fresh.output
    assert snapshot(db, version) == with_reuse
    progress = open_store(db).query("SELECT count(DISTINCT run_id), sum(conversations) FROM rescore_progress")[1][0]
    assert progress == (2, 2 * N_CHATS)


@pytest.mark.slow
def test_stale_tokens_are_analysed_again_and_refreshed(db, edited_rules):
    from qa.flows.rescore import rescore_qa

    with open_store(db).connect() as con:
        con.execute("UPDATE utterances SET analysis_version = 'an-older-lemmatiser'")
    summary = rescore_qa(db=str(db), rules=str(edited_rules), chunk_size=5)
    assert (summary["processed"], summary["reanalysed"], summary["reused"]) == (N_CHATS, N_CHATS, 0)
    assert open_store(db).query("SELECT DISTINCT analysis_version FROM utterances")[1] == [(av.analysis_version(),)]
    again = rescore_qa(db=str(db), rules=str(edited_rules), chunk_size=5)
    assert (again["reused"], again["reanalysed"]) == (N_CHATS, 0)


@pytest.mark.slow
def test_an_interrupted_rescore_resumes_after_its_last_written_page(db, edited_rules, monkeypatch):
    import qa.store.rescore
    from qa.flows.rescore import rescore_qa
    from qa.rules.ruleset import ruleset_version

    original = qa.store.rescore.record_chunk
    calls = []

    def fail_on_the_second_page(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("No space left on device")
        return original(*args, **kwargs)

    monkeypatch.setattr(qa.store.rescore, "record_chunk", fail_on_the_second_page)
    with pytest.raises(OSError, match="No space left"):
        rescore_qa(db=str(db), rules=str(edited_rules), chunk_size=5, in_flight=1)
    monkeypatch.setattr(qa.store.rescore, "record_chunk", original)
    [(run_id, status)] = open_store(db).query("SELECT run_id, status FROM runs WHERE kind = 'rescore'")[1]
    assert status == "running"
    summary = rescore_qa(db=str(db), rules=str(edited_rules), chunk_size=5)
    assert summary["run_id"] == run_id and summary["resumed_after"] == "chat-004"
    assert (summary["processed"], summary["failed"]) == (N_CHATS, 0)
    pages = open_store(db).query("SELECT last_conversation_id, conversations FROM rescore_progress ORDER BY 1")[1]
    assert pages == [("chat-004", 5), ("chat-009", 5), ("chat-011", 2)]  # the first page was not scored twice
    counts = open_store(db).query(
        "SELECT count(*), count(DISTINCT conversation_id) FROM scores WHERE ruleset_version = ?",
        [ruleset_version(edited_rules)])[1][0]
    assert counts == (N_CHATS, N_CHATS)
    assert open_store(db).query("SELECT status FROM runs WHERE run_id = ?", [run_id])[1] == [("completed",)]
    fresh = rescore_qa(db=str(db), rules=str(edited_rules), chunk_size=5)  # a completed one is not resumed
    assert fresh["run_id"] != run_id and fresh["resumed_after"] is None


@pytest.mark.slow
def test_rescore_on_a_dask_cluster(db, edited_rules):
    from qa.flows.rescore import rescore_flow
    from qa.rules.ruleset import ruleset_version
    from qa.run.cluster import ClusterSettings, connect, start_local_cluster

    local = start_local_cluster(2)
    try:
        summary = rescore_flow(ClusterSettings(address=local.scheduler_address))(
            db=str(db), rules=str(edited_rules), chunk_size=3)
        client = connect(local.scheduler_address)
        try:
            loads = client.run(lambda: __import__("qa_eval.process_loads").process_loads.counts())
        finally:
            client.close()
    finally:
        local.close()
    assert (summary["processed"], summary["failed"], summary["reused"]) == (N_CHATS, 0, N_CHATS)
    assert all(c.get("ruleset", 0) <= 1 for c in loads.values()) and sum(c.get("ruleset", 0)
                                                                         for c in loads.values()) >= 1
    version = ruleset_version(edited_rules)
    on_dask = snapshot(db, version)
    assert len(on_dask) == N_CHATS
    here = CliRunner().invoke(app, ["rescore", "--db", str(db), "--rules", str(edited_rules), "--no-resume"])
    assert here.exit_code == 0, here.output
    assert snapshot(db, version) == on_dask  # the same scores as the embedded runner gives
