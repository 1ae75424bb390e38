"""DuckDB allows one writer process or many readers. The flow writes in short per-chunk transactions and
readers retry while it holds the file, so a team lead can query while the nightly flow runs: tested here with
readers in this process and in `qa sql` subprocesses, and a supervisor's verdict, during a real flow run in
another process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qa.store import Review, StoreError, open_store, queries

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]

# Every stored conversation has its score and its utterances: a reader never sees half a chunk.
ORPHANS = """
    SELECT (SELECT count(*) FROM conversations) AS conversations,
           (SELECT count(*) FROM conversations c WHERE NOT EXISTS
               (SELECT 1 FROM scores s WHERE s.conversation_id = c.conversation_id)) AS without_score,
           (SELECT count(*) FROM conversations c WHERE NOT EXISTS
               (SELECT 1 FROM utterances u WHERE u.conversation_id = c.conversation_id)) AS without_turns
"""


def test_readers_query_while_the_nightly_flow_writes(tmp_path):
    inbox = tmp_path / "inbox"
    shutil.copytree(REPO / "data" / "samples", inbox)
    db = tmp_path / "qa.duckdb"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    flow = subprocess.Popen(
        # No transcript cache: real transcription keeps the run long enough for readers to meet each write.
        [sys.executable, "-m", "qa.cli", "run", str(inbox), "--db", str(db), "--chunk-size", "1", "--cache-dir", "",
         "--rules", str(REPO / "scripts_rules")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    seen: list[int] = []
    cli_reads = 0
    verdicts: list[str] = []
    errors: list[str] = []
    try:
        while flow.poll() is None:
            if not db.exists():
                time.sleep(0.1)
                continue
            try:
                total, without_score, without_turns = open_store(db).query(ORPHANS)[1][0]
                assert (without_score, without_turns) == (0, 0), "a reader saw a half-written chunk"
                page = queries.conversations(open_store(db), queries.Filters(flagged=None))
                seen.append(total)
                if page.rows and not verdicts:  # a supervisor's verdict, written while the flow writes
                    verdicts.append(open_store(db).add_review(
                        Review(page.rows[0][0], "disputed", "lead", comment="mid-run")))
            except StoreError as exc:
                errors.append(str(exc))
            if len(seen) % 5 == 0:  # a reader in another process, as a team lead would run it
                out = subprocess.run([sys.executable, "-m", "qa.cli", "sql", "SELECT count(*) AS n FROM scores",
                                      "--db", str(db), "--format", "csv"], cwd=REPO, env=env, capture_output=True,
                                     text=True, timeout=120)
                if out.returncode != 0:
                    errors.append(out.stderr)
                cli_reads += 1
    finally:
        output = flow.communicate(timeout=600)[0]
    assert flow.returncode == 0, output
    assert errors == []
    assert len(seen) >= 5 and cli_reads >= 1, (len(seen), cli_reads)
    assert seen == sorted(seen), "conversations appeared and disappeared"
    assert open_store(db).query(ORPHANS)[1][0] == (7, 0, 0)
    assert open_store(db).query("SELECT review_id FROM reviews")[1] == [(verdicts[0],)]
    # The readers ran while conversations were being written, not only before or after the run.
    assert any(0 < n < 7 for n in seen), sorted(set(seen))
    # `--cache-dir ''` really disables the cache: nothing written beside the run.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inbox", "qa.duckdb"]
