"""Transcript search through a real DuckDB file written by the store's write path: lemma search, phrases, windows,
OR/NOT, fuzzy mode, every filter, counts and pages; the index kept up to date by every write (new conversations,
rewrites, rescore, purge) and equal to the migration's backfill; search text never reaches SQL."""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import duckdb
import pytest
from search_data import DAY, chat, conversations

from qa.records import Token
from qa.store import FileStore, open_store, retention
from qa.store.rescore import ChunkProgress, record_chunk
from qa.store.search import SearchFilters, search, sentences
from qa.store.search_index import refresh_search
from qa.text.search_query import parse_query


@pytest.fixture(scope="module")
def template(tmp_path_factory, scorer) -> Path:
    db = tmp_path_factory.mktemp("search") / "qa.duckdb"
    open_store(db).write_results("run-1", [scorer.score(c) for c in conversations()])
    return db


@pytest.fixture
def db(template, tmp_path) -> Path:
    path = tmp_path / "qa.duckdb"
    shutil.copy(template, path)
    return path


def found(db, query: str, filters: SearchFilters | None = None, lemmatizer=None, fuzzy: bool = False,
          **page) -> list[str]:
    from qa.text.lemmatizer import get_lemmatizer

    result = search(open_store(db), parse_query(query, lemmatizer or get_lemmatizer(), fuzzy=fuzzy),
                    filters or SearchFilters(), **page)
    return [f"{h.conversation_id}:{h.utterance_idx}" for h in result.hits]


def by_lemmas(db: Path) -> list[tuple]:
    """The index with term ids read back as lemmas (ids differ between an incremental and a one-pass build)."""
    return open_store(db).query(
        "SELECT s.* EXCLUDE (terms), (SELECT list(x.lemma ORDER BY u.p) FROM (SELECT unnest(s.terms) AS t, "
        "generate_subscripts(s.terms, 1) AS p) u JOIN search_terms x ON x.term_id = u.t) AS lemmas "
        "FROM search_sentences s ORDER BY conversation_id, utterance_idx")[1]


def rebuilt(db: Path) -> list[tuple]:
    """The index as migration 008 builds it from the base tables."""
    with open_store(db).connect() as con:
        con.execute("BEGIN")
        con.execute("DELETE FROM search_terms")
        refresh_search(con)
        con.execute("COMMIT")
    return by_lemmas(db)


def test_lemma_search_finds_every_form_newest_first(db):
    assert found(db, "вернуть деньги") == ["c6:0", "c5:0", "c3:0", "c2:1", "c1:0", "c1:1"]
    assert found(db, "верните деньги") == found(db, "вернули денег") == found(db, "вернуть деньги")


@pytest.mark.parametrize(("query", "expected"), [
    ('"верните деньги"', ["c6:0", "c5:0", "c2:1", "c1:0"]),  # side by side, in this order (any form)
    ("«вернуть деньги»~0", ["c6:0", "c5:0", "c2:1", "c1:0", "c1:1"]),  # side by side, any order
    ("«вернуть деньги»~1", ["c6:0", "c5:0", "c3:0", "c2:1", "c1:0", "c1:1"]),  # one word between
    ("суд OR офис", ["c3:0", "c4:1"]),
    ("(суд OR офис) договор", ["c4:1"]),
    ("деньги -спасибо", ["c6:0", "c3:0", "c2:1", "c1:0", "c1:1"]),
    ("деньги NOT «большое спасибо»", ["c6:0", "c5:0", "c3:0", "c2:1", "c1:0", "c1:1"]),
    ('"не знаю"', []),
    ("растаргнуть", ["c4:1"]),  # the ASR slip as typed
    ("расторгнуть", ["c4:0"]),
    ("телепортация", []),
])
def test_phrases_windows_or_and_not(db, query, expected):
    assert found(db, query) == expected


def test_fuzzy_mode_also_finds_close_stored_words(db):
    from qa.text.lemmatizer import get_lemmatizer

    result = search(open_store(db), parse_query("расторгнуть", get_lemmatizer(), fuzzy=True))
    assert [h.conversation_id + f":{h.utterance_idx}" for h in result.hits] == ["c4:0", "c4:1"]
    assert result.variants == {"расторгнуть": ["растаргнуть"]}
    unknown = search(open_store(db), parse_query("телепортация деньги", get_lemmatizer()))
    assert unknown.unknown == ["телепортация"] and unknown.total == 0


@pytest.mark.parametrize(("filters", "expected"), [
    (SearchFilters(speaker="client"), ["c6:0", "c5:0", "c3:0", "c2:1", "c1:0"]),  # mono turns count for both
    (SearchFilters(speaker="operator"), ["c6:0", "c1:1"]),
    (SearchFilters(channel="chat"), ["c5:0", "c3:0", "c1:0", "c1:1"]),
    (SearchFilters(team="team-b"), ["c3:0"]),
    (SearchFilters(operator="op-2"), ["c2:1"]),
    (SearchFilters(since=DAY + timedelta(days=15)), ["c6:0", "c5:0", "c3:0"]),
    (SearchFilters(until=DAY + timedelta(days=5)), ["c1:0", "c1:1"]),
    (SearchFilters(rule="escalation_refund", rule_hit=True), ["c6:0", "c2:1", "c1:0"]),  # «хочу … вернули денег»
    (SearchFilters(rule="escalation_refund", rule_hit=False), ["c5:0", "c3:0", "c1:1"]),
    (SearchFilters(rule="any", rule_hit=False), ["c5:0", "c1:1"]),  # «пойду в суд» is a legal threat
    (SearchFilters(team="team-a", channel="call", speaker="client"), ["c6:0", "c2:1"]),
])
def test_filters(db, filters, expected):
    assert found(db, "вернуть деньги", filters) == expected


def test_counts_pages_and_what_a_hit_carries(db):
    from qa.text.lemmatizer import get_lemmatizer

    query = parse_query("вернуть деньги", get_lemmatizer())
    first = search(open_store(db), query, limit=4)
    second = search(open_store(db), query, limit=4, offset=4)
    assert (first.total, first.conversations, len(first.hits), len(second.hits)) == (6, 5, 4, 2)
    assert [h.conversation_id for h in first.hits + second.hits] == ["c6", "c5", "c3", "c2", "c1", "c1"]
    call = next(h for h in first.hits if h.conversation_id == "c2")
    assert (call.speaker, call.channel, call.team, call.operator_id) == ("client", "call", "team-a", "op-2")
    assert call.seek_s == pytest.approx(31.25)  # the word «вернули» starts there, not the turn (30.0)
    assert call.matched == (4, 5) and call.text.startswith("Я хочу, чтобы мне вернули")
    refund = next(h for h in first.hits if h.conversation_id == "c6")
    assert refund.rules == ("escalation_refund",) and refund.seek_s == 0.0
    assert sentences(open_store(db), [("c3", 1), ("zz", 0)])[("c3", 1)]["text"] == "Большое спасибо, деньги пришли."


def test_the_write_path_index_equals_the_migration_backfill(db):
    written = by_lemmas(db)
    assert len(written) == 11 and written == rebuilt(db)
    row = next(r for r in written if r[5] == "c2" and r[6] == 1)
    assert row[-1] == ["я", "хотеть", "чтобы", "я", "вернуть", "деньга", "за", "октябрь"]


def test_every_write_keeps_the_index_current(db, scorer):
    store = open_store(db)
    # A rewritten conversation (new content) replaces its sentences.
    changed = chat("c5", "team-a", "op-1", 24, [("client", "Телефон не работает третий день.")])
    changed.content_sha256 = "sha-c5-v2"
    store.write_results("run-2", [scorer.score(changed)])
    assert "c5:0" not in found(db, "вернуть деньги") and found(db, "телефон") == ["c5:0"]
    # A conversation without a start time is dated by its scoring: a rescore moves its date, and its rows follow.
    undated = chat("c7", "team-a", "op-1", 0, [("client", "Верните деньги сегодня.")], started=False)
    store.write_results("run-3", [scorer.score(undated)])
    first_date = store.query("SELECT dated_at FROM search_sentences WHERE conversation_id = 'c7'")[1][0][0]
    rescored = scorer.score(chat("c7", "team-a", "op-1", 0, [("client", "Верните деньги сегодня.")], started=False))
    store.write_rescored("rescore-1", [replace(rescored, ruleset_version="v2")])
    _, [(dated, current)] = store.query("SELECT s.dated_at, c.dated_at FROM search_sentences s JOIN current_scores c "
                                        "USING (conversation_id) WHERE conversation_id = 'c7'")
    assert dated == current and dated > first_date
    # A rescore that analysed a conversation afresh writes its new lemmas to the index too.
    again = scorer.score(chat("c3", "team-b", "op-3", 19, [("client", "Деньги мне верните, иначе пойду в суд."),
                                                           ("client", "Большое спасибо, деньги пришли.")]))
    moved = again.conversation
    moved.utterances[0].tokens = tuple(Token(t.text, t.norm, "арбитраж" if t.lemma == "суд" else t.lemma, t.start,
                                             t.end) for t in moved.utterances[0].tokens)
    record_chunk(store, ChunkProgress("rescore-2", "v1", "c3", 1, 0, 0, 1), refreshed=[moved])
    assert found(db, "арбитраж") == ["c3:0"] and found(db, "суд") == []
    # Purged conversations leave the search.
    retention.purge(store, timedelta(days=20), now=DAY + timedelta(days=40))
    assert found(db, "вернуть деньги") == ["c7:0", "c6:0"]  # c7 is dated by its scoring (today)
    assert by_lemmas(db) == rebuilt(db)


def test_an_older_database_gets_the_index_when_first_read(db):
    with duckdb.connect(str(db)) as con:
        con.execute("DROP TABLE search_sentences")
        con.execute("DROP TABLE search_terms")
        con.execute("DELETE FROM schema_migrations WHERE version = 8")
    assert found(db, "вернуть деньги") == ["c6:0", "c5:0", "c3:0", "c2:1", "c1:0", "c1:1"]
    assert len(by_lemmas(db)) == 11


class _Spy:
    """A connection that records the SQL text of every statement."""

    def __init__(self, con, seen: list[str]) -> None:
        self._con, self._seen = con, seen

    def execute(self, sql, params=None):
        self._seen.append(sql)
        return self._con.execute(sql, params) if params is not None else self._con.execute(sql)

    def __getattr__(self, name):
        return getattr(self._con, name)


class RecordingStore(FileStore):
    seen: ClassVar[list[str]] = []

    @contextmanager
    def connect(self, read_only=False, wait_s=30.0):
        with super().connect(read_only, wait_s) as con:
            yield _Spy(con, self.seen)


PAYLOADS = ["x'); DROP TABLE conversations; --", "' OR 1=1 --", "деньги\"; SELECT * FROM users; --", "%' --",
            "team-a' UNION SELECT password_hash FROM users --"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_search_text_never_reaches_sql(db, lemmatizer, payload):
    store = RecordingStore(db)
    RecordingStore.seen = []
    fields = [("team", payload), ("operator", payload), ("rule", payload)]
    query_text = payload.replace('"', " ").replace("(", " ").replace(")", " ")
    for query in (f"вернуть деньги {query_text}", "вернуть деньги"):
        result = search(store, parse_query(query, lemmatizer, fuzzy=True))
        assert result.total == (6 if query == "вернуть деньги" else 0)
    for name, value in fields:
        filters = SearchFilters(**{name: value}) if name != "rule" else SearchFilters(rule=value, rule_hit=True)
        assert search(store, parse_query("вернуть деньги", lemmatizer), filters).total == 0
    for bad in (SearchFilters(channel=payload), SearchFilters(speaker=payload)):
        with pytest.raises(ValueError):
            search(store, parse_query("вернуть деньги", lemmatizer), bad)
    assert RecordingStore.seen
    words = {"деньги", "деньга", "вернуть", "users", "password_hash", "team-a"}
    for sql in RecordingStore.seen:
        assert payload not in sql and "1=1" not in sql and "DROP" not in sql.upper() and "UNION" not in sql.upper()
        assert not any(word in sql for word in words), sql
    assert open_store(db).query("SELECT count(*) FROM conversations")[1] == [(6,)]
