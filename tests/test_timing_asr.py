"""Call timing through real faster-whisper on real audio, held to the tolerances of issue #12.

Truth: ``../shared/data/synthetic_call_ru/call_truth.json`` (16 kHz call and its 8 kHz copy),
``tests/fixtures/truth/call_stopwords.json`` and the overtalk fixtures made by
``tools/make_overlap_fixtures.py``. ``make bench-timing`` prints the same errors beside two peers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.records import Conversation
from qa.speech.audio import decode_audio
from qa.speech.transcribe import TranscriptionOptions, get_transcriber
from qa_eval.timing_truth import TimingErrors, compare, load_truth, trim_to_signal

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def transcriber():
    return get_transcriber(TranscriptionOptions(), ("Телеком Плюс",))


def _errors(transcriber, audio: Path, truth: Path, cache: Path, trim_by: Path | None = None) -> TimingErrors:
    t = transcriber.transcribe(audio, cache_dir=cache)
    conv = Conversation(audio.stem, "call", str(audio), t.audio_sha256, t.utterances, duration_s=t.duration_s,
                        transcription={"stats": t.stats})
    exact = load_truth(truth)
    if trim_by is not None:  # call_truth.json keeps ~0.2 s of synthesiser silence inside each turn
        signal = decode_audio(trim_by)
        exact = trim_to_signal(exact, {"operator": signal.channels[0], "client": signal.channels[1]})
    return compare(conv, exact)


@pytest.mark.parametrize(("name", "reply_tolerance_s"), [("call_stereo.flac", 0.15), ("call_stereo_8k.flac", 0.3)])
def test_synthetic_call_timing(transcriber, shared_data, transcript_cache, name, reply_tolerance_s):
    call = shared_data / "synthetic_call_ru"
    e = _errors(transcriber, call / name, call / "call_truth.json", transcript_cache, call / "call_stereo.flac")
    assert max(e.talk_rel.values()) <= 0.03, e.talk_rel
    assert e.share_pp <= 0.5
    for speaker in ("operator", "client"):
        assert e.replies_missed[speaker] == 0
        assert e.reply_mean(speaker) <= reply_tolerance_s, e.reply_errors
    assert (e.dead_air_false, e.dead_air_missed) == (0, 0)
    assert e.short_gap_false == 0


@pytest.mark.parametrize("name", ["overlap_shift1500", "overlap_shift2500"])
def test_overtalk_of_known_length(transcriber, transcript_cache, name):
    e = _errors(transcriber, FIXTURES / "audio" / f"{name}.ogg", FIXTURES / "truth" / f"{name}.json",
                transcript_cache)
    assert e.overtalk_s <= 0.2
    assert max(e.talk_rel.values()) <= 0.03, e.talk_rel
    assert e.dead_air_false == 0


def test_stopwords_sample_dead_air_only_the_real_one(transcriber, transcript_cache):
    e = _errors(transcriber, REPO / "data" / "samples" / "call_stopwords.flac",
                FIXTURES / "truth" / "call_stopwords.json", transcript_cache)
    assert (e.dead_air_false, e.dead_air_missed) == (0, 0)
    assert e.dead_air_edge_s <= 0.5


def test_score_json_has_words_and_reply_latency():
    result = CliRunner().invoke(app, ["score", str(FIXTURES / "audio" / "two_speakers.flac"), "--json",
                                      "--rules", str(REPO / "scripts_rules")])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    for u in out["utterances"]:
        assert u["words"], u
        assert u["start_s"] - 0.01 <= u["words"][0]["start_s"] <= u["words"][-1]["end_s"] <= u["end_s"] + 0.01
    # tests/fixtures/truth/two_speakers.json: the operator 0.3–4.567, the client answers 0.8 s later.
    assert out["metrics"]["client_replies"] == 1.0
    assert out["metrics"]["client_reply_latency_mean_s"] == pytest.approx(0.8, abs=0.15)
    assert out["metrics"]["operator_replies"] == 0.0
