"""The committed demo samples and audio fixtures agree with their truth files and sidecars.

The files are made by tools/make_samples.py from tools/sample_dialogues.yml; these tests read the
committed outputs only (no festival, sox or Whisper needed).
"""

from __future__ import annotations

import itertools
import json
import re
import wave
from datetime import datetime
from functools import cache
from pathlib import Path

import pytest

from qa.errors import AudioError
from qa.speech.audio import DecodedAudio, decode_audio

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
FIXTURES = REPO / "tests" / "fixtures"
TRUTH = FIXTURES / "truth"

CALLS = ["call_compliant", "call_stopwords", "call_escalation", "call_mono", "two_speakers", "mono_short"]
INBOX_CALLS = ["call_compliant", "call_stopwords", "call_escalation", "call_mono"]
SPEECH_PEAK = 0.05  # every turn holds speech at least this loud (full scale 1.0)
SILENCE_PEAK = 0.002  # outside its speaker's turns a channel stays below this
EDGE_S = 0.1  # a turn's first and last 100 ms already hold sound: the truth times are tight
EDGE_PEAK = 0.003
MARGIN_S = 0.02


@cache
def truth(name: str) -> dict:
    return json.loads((TRUTH / f"{name}.json").read_text(encoding="utf-8"))


@cache
def audio(name: str) -> DecodedAudio:
    return decode_audio(REPO / truth(name)["audio"])


def peak(samples, start_s: float, end_s: float) -> float:
    piece = samples[max(0, round(start_s * 16000)) : max(0, round(end_s * 16000))]
    return float(abs(piece).max()) if len(piece) else 0.0


def channel_index(name: str, channel: str) -> int:
    return list(truth(name)["channel_map"]).index(channel)


@pytest.mark.parametrize("name", CALLS)
def test_audio_format_matches_truth(name):
    t, a = truth(name), audio(name)
    assert a.source_sample_rate == t["sample_rate"] == 16000
    assert a.source_channels == t["channels"] == len(t["channel_map"])
    assert a.duration_s == pytest.approx(t["duration"], abs=0.01)


@pytest.mark.parametrize("name", CALLS)
def test_turns_are_ordered_and_pauses_are_the_gaps(name):
    t = truth(name)
    turns = t["turns"]
    assert turns[0]["start"] == pytest.approx(t["lead_in"])
    assert t["duration"] - turns[-1]["end"] == pytest.approx(t["tail"])
    for turn in turns:
        assert 0 <= turn["start"] < turn["end"] <= t["duration"]
        assert turn["channel"] in t["channel_map"]
        if turn["channel"] != "mono":
            assert t["channel_map"][turn["channel"]] == turn["speaker"]
    assert [p["before_turn"] for p in t["pauses"]] == list(range(1, len(turns)))
    gaps = [b["start"] - a["end"] for a, b in itertools.pairwise(turns)]
    assert [p["duration"] for p in t["pauses"]] == pytest.approx(gaps)
    for p in t["pauses"]:
        assert p["start"] == pytest.approx(turns[p["before_turn"] - 1]["end"])
        assert p["end"] == pytest.approx(turns[p["before_turn"]]["start"])


@pytest.mark.parametrize("name", CALLS)
def test_speech_is_where_the_truth_says(name):
    t, a = truth(name), audio(name)
    for turn in t["turns"]:
        samples = a.channels[channel_index(name, turn["channel"])]
        assert peak(samples, turn["start"], turn["end"]) > SPEECH_PEAK, turn["text"]
        assert peak(samples, turn["start"], turn["start"] + EDGE_S) > EDGE_PEAK, turn["text"]
        assert peak(samples, turn["end"] - EDGE_S, turn["end"]) > EDGE_PEAK, turn["text"]
    for channel in t["channel_map"]:
        samples = a.channels[channel_index(name, channel)]
        cursor = 0.0
        for turn in [*(u for u in t["turns"] if u["channel"] == channel), {"start": t["duration"], "end": 0}]:
            assert peak(samples, cursor + MARGIN_S, turn["start"] - MARGIN_S) < SILENCE_PEAK, (
                channel,
                cursor,
            )
            cursor = turn["end"]


@pytest.mark.parametrize("name", CALLS)
def test_key_phrases_are_in_the_truth_text(name):
    def norm(text: str) -> str:
        return " " + " ".join(re.sub(r"[^\w\s]", " ", text.lower().replace("ё", "е")).split()) + " "

    said = norm(" ".join(turn["text"] for turn in truth(name)["turns"]))
    assert truth(name)["key_phrases"]
    for phrase in truth(name)["key_phrases"]:
        assert norm(phrase) in said, phrase


@pytest.mark.parametrize(
    ("name", "speaker", "text"),
    [
        ("call_stopwords", "client", "Короче"),
        ("call_stopwords", "operator", "Короче"),
        ("call_stopwords", "operator", "девушка"),
        ("call_stopwords", "operator", "не знаю"),
        ("call_escalation", "client", "Я хочу оставить жалобу"),
        ("call_escalation", "client", "Роспотребнадзор"),
        ("call_compliant", "operator", "Оставайтесь, пожалуйста, на линии"),
        ("call_compliant", "operator", "До свидания"),
    ],
)
def test_phrases_are_said_by_the_right_speaker(name, speaker, text):
    assert any(text in turn["text"] for turn in truth(name)["turns"] if turn["speaker"] == speaker)


@pytest.mark.parametrize(("name", "seconds"), [("call_compliant", 5.0), ("call_stopwords", 12.0)])
def test_the_long_pause(name, seconds):
    assert max(p["duration"] for p in truth(name)["pauses"]) == pytest.approx(seconds)


@pytest.mark.parametrize("name", INBOX_CALLS)
def test_sidecar(name):
    sidecar = json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    assert {"id", "operator_id", "team", "started_at", "direction", "channels"} < set(sidecar)
    assert sidecar["channels"] == truth(name)["channel_map"]
    started = datetime.fromisoformat(sidecar["started_at"])
    assert started.date().isoformat() == "2026-11-27"
    assert started.utcoffset().total_seconds() == 3 * 3600
    assert sidecar["direction"] == "inbound"


def test_the_inbox_holds_only_inputs():
    allowed = {"README.md"}
    for name in INBOX_CALLS:
        allowed |= {Path(truth(name)["audio"]).name, f"{name}.json"}
    allowed |= {"chat_good.chat.json", "chat_slow.chat.json", "transcript_example.transcript.json"}
    assert {p.name for p in SAMPLES.iterdir()} == allowed
    ids = [json.loads(p.read_text(encoding="utf-8"))["id"] for p in SAMPLES.glob("*.json")]
    assert len(ids) == len(set(ids))
    audio_bytes = sum(p.stat().st_size for p in SAMPLES.iterdir() if p.suffix in {".flac", ".ogg"})
    assert audio_bytes < 6_000_000


def chat(name: str) -> list[tuple[float, str, str]]:
    data = json.loads((SAMPLES / f"{name}.chat.json").read_text(encoding="utf-8"))
    assert {"id", "operator_id", "team", "messages"} <= set(data)
    times = [datetime.fromisoformat(m["at"]) for m in data["messages"]]
    return [
        ((t - times[0]).total_seconds(), m["role"], m["text"]) for t, m in zip(times, data["messages"], strict=True)
    ]


def replies(messages: list[tuple[float, str, str]]) -> list[float]:
    """Seconds from each client message to the next operator message."""
    out, waiting = [], None
    for at, role, _ in messages:
        if role == "client" and waiting is None:
            waiting = at
        elif role == "operator" and waiting is not None:
            out.append(at - waiting)
            waiting = None
    return out


def test_chat_good_is_quick_and_polite():
    messages = chat("chat_good")
    assert [at for at, _, _ in messages] == sorted(at for at, _, _ in messages)
    assert messages[0][1] == "bot"
    assert replies(messages)[0] <= 40
    operator = [text for _, role, text in messages if role == "operator"]
    assert "Телеком Плюс" in operator[0] and "Анна" in operator[0]
    assert "До свидания" in operator[-1]


def test_chat_slow_is_slow():
    messages = chat("chat_slow")
    assert [at for at, _, _ in messages] == sorted(at for at, _, _ in messages)
    assert messages[1][1] == "bot" and messages[1][0] - messages[0][0] <= 2
    waits = replies(messages)
    assert 330 <= waits[0] <= 390
    assert 480 in waits
    operator = " ".join(text for _, role, text in messages if role == "operator")
    assert "не знаю" in operator and "не ко мне" in operator
    assert any("жалобу в ЦБ" in text for _, role, text in messages if role == "client")


def test_transcript_example():
    data = json.loads((SAMPLES / "transcript_example.transcript.json").read_text(encoding="utf-8"))
    assert {"id", "operator_id", "team", "turns"} <= set(data)
    ends = [0.0]
    for turn in data["turns"]:
        assert turn["speaker"] in {"operator", "client"}
        assert ends[-1] <= turn["start"] < turn["end"]
        ends.append(turn["end"])


def test_fixture_sizes():
    for path in (FIXTURES / "audio").iterdir():
        assert path.stat().st_size < 300_000, path.name


def test_silence_fixture_is_digital_silence():
    a = decode_audio(FIXTURES / "audio" / "silence_3s.flac")
    assert a.source_channels == 2
    assert a.duration_s == pytest.approx(3.0)
    assert max(float(abs(c).max()) for c in a.channels) == 0.0


def test_empty_wav_has_a_header_and_no_samples():
    with wave.open(str(FIXTURES / "audio" / "empty.wav"), "rb") as w:
        assert (w.getnframes(), w.getframerate()) == (0, 16000)
    with pytest.raises(AudioError, match=r"empty\.wav"):
        decode_audio(FIXTURES / "audio" / "empty.wav")


def test_corrupt_flac_does_not_decode():
    with pytest.raises(AudioError, match=r"corrupt\.flac"):
        decode_audio(FIXTURES / "audio" / "corrupt.flac")
