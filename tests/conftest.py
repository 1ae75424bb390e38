"""Shared test setup: offline environment, an isolated Prefect home, paths to bundled and shared data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from qa.run.environment import apply_defaults

apply_defaults()
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="qa-prefect-"))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Tests write their inbox files and run at once: no settle period, unless a test sets one (test_faults.py does).
os.environ.setdefault("QA_SETTLE_S", "0")

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
FIXTURES = REPO / "tests" / "fixtures"
RULES = REPO / "scripts_rules"
SHARED_DATA = Path(os.environ.get("QA_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (external material); tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def lemmatizer():
    from qa.text.lemmatizer import get_lemmatizer

    return get_lemmatizer()


@pytest.fixture(scope="session")
def scorer(lemmatizer):
    from qa.rules.scoring import build_scorer

    return build_scorer(RULES, lemmatizer)


@pytest.fixture(scope="session")
def transcript_cache(tmp_path_factory) -> Path:
    """One transcript cache for every real flow run of the session: each sample call is transcribed once."""
    return tmp_path_factory.mktemp("transcripts")


@pytest.fixture(scope="session")
def sample_db_template(tmp_path_factory, transcript_cache) -> Path:
    """A DuckDB file made by the real nightly flow over the bundled samples (do not write to it: copy it with
    the ``sample_db`` fixture)."""
    from qa.flows.nightly import nightly_qa

    root = tmp_path_factory.mktemp("sample-db")
    db = root / "qa.duckdb"
    nightly_qa(inbox=str(SAMPLES), db=str(db), rules=str(RULES), cache_dir=str(transcript_cache))
    return db


@pytest.fixture
def sample_db(sample_db_template, tmp_path) -> Path:
    """A private copy of the samples' database, free to write to."""
    import shutil

    db = tmp_path / "qa.duckdb"
    shutil.copy(sample_db_template, db)
    return db
