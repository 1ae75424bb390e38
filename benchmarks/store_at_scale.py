"""A store of many conversations generated in SQL (not by running the pipeline N times), with realistic shape.

N conversations over 365 days (working hours, ids in time order as telephony assigns them; each table laid out as
the flows write it: conversations and turns in id order, each rule set version's scores and findings in id order
after the previous version's, as a night and then each rescore append them), ~20 teams of
~20 operators each (400), 70% calls / 30% chats, 8–16 turns each, three rule set versions of scores for every
conversation (v1 at ingest, v2 and v3 by later re-scoring), ~25% flagged with 8–12 findings each (others 0–2),
about 1% of current findings reviewed. Turn texts, quotes, rule ids, categories, titles and script steps come
from the shipped rule set and its ``.test.txt`` dialogues, so nothing here is a hand-written phrase.

Every turn is analysed by the real text stage once (tokens and lemmas as the nightly flow stores them, with the
analysis version of the code that generates it, so a rescore reuses them as it would a night's; each token's
time is placed inside its turn) and ends with a made-up reference code («xkqzv», one of 457k), so that no two turns
are alike (real transcripts are not: nothing may be computed once per distinct text) and the lexicon has the size of
a real one (about 450k lemmas); the search index is built from the stored tokens the way migration 008
backfills an existing database (:func:`qa.store.search_index.refresh_search` over every conversation), after the
current results are built the way migration 006 does (:func:`qa.store.current.refresh_current`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from qa.config import default_rules_dir
from qa.rules.rule_tests import parse_test_file
from qa.rules.ruleset import load_ruleset
from qa.store import open_store
from qa.store.current import refresh_current
from qa.store.search_index import refresh_search
from qa.text.analysis import analyse_text
from qa.text.analysis_version import analysis_version
from qa.text.lemmatizer import get_lemmatizer

END_DAY = "2026-11-30"  # the last generated day (Moscow); the first is 364 days before
DAYS = 365
TEAMS = 20
OPERATORS = 400
VERSIONS = ("v1", "v2", "v3")


@dataclass(frozen=True)
class Generated:
    """Row counts and timings of a generated store."""

    counts: dict[str, int]
    generate_s: float
    backfill_s: float
    size_mb: float
    index_s: float = 0.0


def _vocabulary(rules_dir: Path) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Rules (id, category, kind, severity, speaker, title, quote), turns (speaker, text, lemmas and the tokens'
    words with their offsets in seconds) and script-detail templates, from the rule set folder."""
    ruleset = load_ruleset(rules_dir)
    rules: dict[str, list] = {k: [] for k in ("rule_id", "category", "kind", "severity", "speaker", "title", "quote")}
    turns: dict[str, list] = {"speaker": [], "text": []}
    for rule in ruleset.active_rules():
        test_file = ruleset.sources[rule.id].with_suffix(".test.txt")
        hits: list[str] = []
        if test_file.is_file():
            for dialogue in parse_test_file(test_file):
                for u in dialogue.utterances:
                    turns["speaker"].append(u.speaker)
                    turns["text"].append(u.text)
                hits += [dialogue.utterances[e.utterance_idx].text for e in dialogue.expectations
                         if e.kind == "hit" and e.utterance_idx is not None]
        if rule.kind == "script":
            continue  # script steps live in score details, not findings
        for quote in hits or [rule.title]:
            speaker = rule.speaker if rule.speaker in ("operator", "client") else "operator"
            for key, value in (("rule_id", rule.id), ("category", rule.category), ("kind", rule.kind),
                               ("severity", rule.severity), ("speaker", speaker), ("title", rule.title),
                               ("quote", quote[:120])):
                rules[key].append(value)
    details: dict[str, list] = {"channel": [], "variant": [], "details": []}
    for channel in ("call", "chat"):
        steps = [(r.id, s.id, getattr(s, "title", s.id), r.category) for r in ruleset.active_rules()
                 if r.kind == "script" and channel in r.channels for s in (r.steps or [])]
        for variant in range(8):  # which steps passed: a few patterns
            script = [{"rule_id": rid, "step": sid, "title": title, "category": cat, "weight": 1.0,
                       "passed": (variant >> (n % 3)) & 1 == 0, "applicable": True, "quote": None,
                       "start_s": 2.0 * n, "end_s": 2.0 * n + 1.5, "reason": "", "utterance_idx": n}
                      for n, (rid, sid, title, cat) in enumerate(steps)]
            metrics = {"operator_talk_s": 60.0 + variant, "client_talk_s": 45.0, "silence_share": 0.05 * variant,
                       "longest_silence_s": 3.0 + variant, "interruptions": variant, "first_reply_s": 4.0}
            details["channel"].append(channel)
            details["variant"].append(variant)
            details["details"].append(json.dumps({"script": script, "metrics": metrics}, ensure_ascii=False))
    lemmatizer = get_lemmatizer()
    analysed = [analyse_text(text, lemmatizer) for text in turns["text"]]
    turns["lemmas"] = [" ".join(t.lemma for t in tokens) for tokens in analysed]
    turns["words"] = [[{"text": t.text, "norm": t.norm, "lemma": t.lemma, "at": round(j * 0.4, 2)}
                       for j, t in enumerate(tokens)] for tokens in analysed]
    return pa.table(rules), pa.table(turns), pa.table(details)


def _statements(n: int, n_rules: int, n_turns: int) -> list[tuple[str, str]]:
    per_day = f"({n} / {DAYS}.0)"
    return [
        ("plan", f"""
            CREATE TEMP TABLE gen AS
            SELECT i,
                   CASE WHEN hash(i, 1) % 10 < 7 THEN 'call' ELSE 'chat' END AS channel,
                   (hash(i, 2) % {OPERATORS})::INTEGER AS op,
                   (hash(i, 3) % 100)::INTEGER AS roll,
                   (8 + hash(i, 4) % 9)::INTEGER AS turns,
                   TIMESTAMPTZ '{END_DAY} 08:00:00+03' - INTERVAL {DAYS - 1} DAY
                       + to_days(floor(i / {per_day})::INTEGER)
                       + to_seconds(floor((i / {per_day} - floor(i / {per_day})) * 50400)::BIGINT) AS started_at
            FROM range({n}) t(i)"""),
        ("conversations", f"""
            INSERT INTO conversations (conversation_id, channel, source_path, content_sha256, operator_id, team,
                started_at, duration_s, speaker_mode, metadata, transcription, ingested_at, run_id)
            SELECT printf('%08d-%s', i, channel), channel,
                   printf('inbox/%s/%s-%08d.%s', strftime(started_at, '%Y-%m-%d'), channel, i,
                          CASE channel WHEN 'call' THEN 'flac' ELSE 'chat.json' END),
                   md5(i::VARCHAR), printf('op-%03d', op), printf('team-%02d', op % {TEAMS}),
                   started_at, turns * 6.5, CASE channel WHEN 'call' THEN 'stereo' ELSE 'chat' END,
                   json_object('line', 'support', 'queue', printf('q%d', op % 7)),
                   CASE channel WHEN 'call' THEN json_object('model', 'base', 'language', 'ru') END,
                   started_at + INTERVAL 1 HOUR, printf('run-%s', strftime(started_at, '%Y%m%d'))
            FROM gen ORDER BY i"""),
        ("utterances", f"""
            INSERT INTO utterances (conversation_id, idx, speaker, start_s, end_s, text, lemmas, words, tokens,
                                    analysis_version)
            SELECT printf('%08d-%s', g.i, g.channel), k, t.speaker, k * 6.5, k * 6.5 + 5.0,
                   t.text || ' ' || c.code, t.lemmas || ' ' || c.code, NULL,
                   to_json(list_append(list_transform(t.words, lambda w: json_array(w.text, w.norm, w.lemma,
                                                                                    round(k * 6.5 + w.at, 2),
                                                                                    round(k * 6.5 + w.at + 0.35, 2))),
                                       json_array(c.code, c.code, c.code, round(k * 6.5 + 0.4 * len(t.words), 2),
                                                  round(k * 6.5 + 0.4 * len(t.words) + 0.35, 2)))),
                   '{analysis_version()}'
            FROM gen g CROSS JOIN LATERAL range(g.turns) r(k)
            JOIN bench_turns t ON t.n = hash(g.i, k) % {n_turns}
            CROSS JOIN LATERAL (SELECT 'x' || chr(97 + (hash(g.i, k, 11) % 26)::INTEGER)
                                      || chr(97 + (hash(g.i, k, 12) % 26)::INTEGER)
                                      || chr(97 + (hash(g.i, k, 13) % 26)::INTEGER)
                                      || chr(97 + (hash(g.i, k, 14) % 26)::INTEGER) AS code) c
            ORDER BY g.i, k"""),
        ("scores", f"""
            INSERT INTO scores (conversation_id, ruleset_version, total, passed, flagged, escalation, auto_failed,
                                reasons, details, scored_at, run_id)
            SELECT printf('%08d-%s', g.i, g.channel), v.version,
                   CASE WHEN g.roll < 25 THEN 20 + (hash(g.i, v.n) % 39) ELSE 60 + (hash(g.i, v.n) % 41) END,
                   g.roll >= 25, g.roll < 25, g.roll < 5, g.roll < 2,
                   CASE WHEN g.roll < 25 THEN to_json([r.title]) ELSE '[]' END, d.details,
                   CASE v.n WHEN 0 THEN g.started_at + INTERVAL 1 HOUR
                            ELSE TIMESTAMPTZ '{END_DAY} 23:00:00+03' + to_days(v.n) END,
                   printf('run-%s', v.version)
            FROM gen g CROSS JOIN (VALUES (0, 'v1'), (1, 'v2'), (2, 'v3')) v(n, version)
            JOIN bench_rules r ON r.n = hash(g.i, 9) % {n_rules}
            JOIN bench_details d ON d.channel = g.channel AND d.variant = hash(g.i, v.n, 8) % 8
            ORDER BY v.n, g.i"""),
        ("findings", f"""
            INSERT INTO findings (conversation_id, ruleset_version, finding_idx, rule_id, category, kind, severity,
                                  speaker, start_s, end_s, quote, message, utterance_idx, details)
            SELECT printf('%08d-%s', g.i, g.channel), v.version, j, r.rule_id, r.category, r.kind, r.severity,
                   r.speaker, (j % g.turns) * 6.5 + v.n * 0.1, (j % g.turns) * 6.5 + 2.0 + v.n * 0.1, r.quote,
                   r.title, j % g.turns, json_object('matched', r.quote)
            FROM gen g CROSS JOIN (VALUES (0, 'v1'), (1, 'v2'), (2, 'v3')) v(n, version)
            CROSS JOIN LATERAL range((CASE WHEN g.roll < 25 THEN 8 + hash(g.i, 5) % 5
                                           ELSE hash(g.i, 5) % 3 END)::BIGINT) f(j)
            JOIN bench_rules r ON r.n = hash(g.i, j, 6) % {n_rules}
            ORDER BY v.n, g.i, j"""),
    ]


_REVIEWS = """
    INSERT INTO reviews (review_id, conversation_id, finding_key, rule_id, verdict, comment, reviewer, created_at)
    SELECT printf('review-%d', row_number() OVER ()), conversation_id,
           rule_id || '@' || coalesce(utterance_idx::VARCHAR, '-') || '@' || printf('%.1f', start_s), rule_id,
           ['confirmed', 'false_positive', 'disputed'][1 + (hash(conversation_id, finding_idx) % 3)::BIGINT], NULL,
           printf('lead-%02d', hash(conversation_id) % 40), TIMESTAMPTZ '2026-12-01 12:00:00+03'
    FROM findings WHERE ruleset_version = 'v3' AND hash(conversation_id, finding_idx, 'review') % 100 = 0
"""  # verdicts on the current (v3) findings, given before the backfill as on a database being upgraded


def generate(db: Path, conversations: int, rules_dir: Path | None = None, log=print,
             memory_limit: str = "10GB") -> Generated:
    """Create ``db`` (migrated, empty) and fill it with ``conversations`` generated conversations."""
    rules, turns, details = _vocabulary(rules_dir or default_rules_dir())
    start = time.perf_counter()
    with open_store(db).connect() as con:
        con.execute("SET enable_progress_bar = false")
        # a shared machine: spill to disk beyond this (4GB ran out building the current results at 1M)
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.register("_rules", rules)
        con.register("_turns", turns)
        con.register("_details", details)
        for name in ("rules", "turns", "details"):
            con.execute(f"CREATE TEMP TABLE bench_{name} AS SELECT row_number() OVER () - 1 AS n, * FROM _{name}")
        con.execute("ALTER TABLE bench_details ALTER details TYPE JSON")  # validated once, not per row
        for name, sql in _statements(conversations, rules.num_rows, turns.num_rows):
            step = time.perf_counter()
            con.execute("BEGIN")
            con.execute(sql)
            con.execute("COMMIT")
            log(f"  {name}: {time.perf_counter() - step:.1f} s")
        con.execute("BEGIN")
        con.execute(_REVIEWS)
        con.execute("COMMIT")
        generate_s = time.perf_counter() - start
        step = time.perf_counter()
        con.execute("BEGIN")
        refresh_current(con)  # what migration 006 does to an existing database
        con.execute("COMMIT")
        backfill_s = time.perf_counter() - step
        log(f"  current results (backfill): {backfill_s:.1f} s")
        step = time.perf_counter()
        con.execute("BEGIN")
        refresh_search(con)  # what migration 008 does to an existing database
        con.execute("COMMIT")
        index_s = time.perf_counter() - step
        log(f"  search index (backfill): {index_s:.1f} s")
        con.execute("CHECKPOINT")
        tables = ("conversations", "utterances", "scores", "findings", "current_scores", "current_findings",
                  "reviews", "search_sentences", "search_terms")
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    size_mb = sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 2**20
    return Generated(counts, generate_s, backfill_s, size_mb, index_s)
