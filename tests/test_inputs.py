"""The inbox: discovery, sidecars, chats and transcripts, and clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.errors import ConversationFormatError
from qa.inbox.inputs import discover_inbox, read_chat, read_sidecar, read_transcript, unknown_input_error

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def test_bundled_samples_are_discovered_with_sidecars():
    items = {Path(i.path).name: i for i in discover_inbox(SAMPLES)}
    assert set(items) == {"call_compliant.flac", "call_escalation.flac", "call_stopwords.flac", "call_mono.ogg",
                          "chat_good.chat.json", "chat_slow.chat.json", "transcript_example.transcript.json"}
    assert items["call_compliant.flac"].sidecar.endswith("call_compliant.json")
    assert {i.kind for i in items.values()} == {"call", "chat", "transcript"}
    assert len({i.content_sha256 for i in items.values()}) == 7


def test_sidecar_gives_ids_and_keeps_extra_keys():
    info = read_sidecar(SAMPLES / "call_compliant.flac", SAMPLES / "call_compliant.json")
    raw = json.loads((SAMPLES / "call_compliant.json").read_text(encoding="utf-8"))
    assert info.conversation_id == raw["id"] and info.team == raw["team"]
    assert info.started_at is not None and info.started_at.utcoffset() is not None
    assert info.channels == {"left": "operator", "right": "client"}
    assert "direction" in info.metadata


def test_chat_times_are_seconds_from_the_first_message():
    [item] = [i for i in discover_inbox(SAMPLES) if i.path.endswith("chat_slow.chat.json")]
    conv = read_chat(item)
    assert conv.channel == "chat" and conv.utterances[0].start == 0
    starts = [u.start for u in conv.utterances]
    assert starts == sorted(starts) and {u.speaker for u in conv.utterances} == {"client", "operator", "bot"}


def test_transcript_is_a_call_without_audio():
    [item] = [i for i in discover_inbox(SAMPLES) if i.kind == "transcript"]
    conv = read_transcript(item)
    assert conv.channel == "call" and conv.speaker_mode == "transcript"
    assert conv.duration_s == max(u.end for u in conv.utterances)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("a.chat.json", "{not json",
         "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        ("b.chat.json", "", "empty file"),
        ("c.chat.json", '{"id": "x"}', "field 'messages' must be a non-empty list"),
        ("d.chat.json", '{"messages": [{"at": "2026-11-27T10:00:00", "role": "boss", "text": "hi"}]}',
         "messages[0]: role must be client, operator or bot, not 'boss'"),
        ("e.chat.json", '{"messages": [{"at": "вчера", "role": "client", "text": "hi"}]}',
         "messages[0]: at: 'вчера' is not an ISO-8601 timestamp"),
        ("f.chat.json", '{"messages": [{"at": "2026-11-27T10:00:00", "role": "client"}]}',
         "messages[0]: missing field 'text'"),
        ("g.chat.json", "[1, 2]", "expected a JSON object at the top level"),
    ],
)
def test_malformed_chats_name_the_file_and_the_problem(tmp_path, name, content, problem):
    (tmp_path / name).write_text(content, encoding="utf-8")
    [item] = discover_inbox(tmp_path)
    with pytest.raises(ConversationFormatError) as err:
        read_chat(item)
    assert str(err.value) == f"{tmp_path / name}: {problem}"


@pytest.mark.parametrize(
    ("turns", "problem"),
    [
        ([{"speaker": "operator", "start": 2, "end": 1, "text": "x"}], "turns[0]: end 1.0 is before start 2.0"),
        ([{"speaker": "robot", "start": 0, "end": 1, "text": "x"}], "turns[0]: speaker must be operator"),
        ([{"speaker": "client", "start": "0", "end": 1, "text": "x"}], "turns[0]: start must be a non-negative"),
    ],
)
def test_malformed_transcripts(tmp_path, turns, problem):
    (tmp_path / "t.transcript.json").write_text(json.dumps({"turns": turns}), encoding="utf-8")
    [item] = discover_inbox(tmp_path)
    with pytest.raises(ConversationFormatError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        read_transcript(item)


def test_unknown_files_are_items_with_a_clear_error(tmp_path):
    (tmp_path / "notes.docx").write_bytes(b"x")
    (tmp_path / "orphan.json").write_text("{}", encoding="utf-8")
    (tmp_path / "README.md").write_text("ignored", encoding="utf-8")
    (tmp_path / ".hidden.wav").write_bytes(b"ignored")
    items = discover_inbox(tmp_path)
    assert [(Path(i.path).name, i.kind) for i in items] == [("notes.docx", "unknown"), ("orphan.json", "unknown")]
    assert "unknown input type '.docx'" in str(unknown_input_error(items[0]))
    assert "neither a sidecar" in str(unknown_input_error(items[1]))


def test_bad_sidecar_channels(tmp_path):
    (tmp_path / "c.json").write_text('{"channels": {"left": "boss"}}', encoding="utf-8")
    with pytest.raises(ConversationFormatError, match="field 'channels' must map"):
        read_sidecar(tmp_path / "c.wav", tmp_path / "c.json")
