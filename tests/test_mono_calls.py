"""Mono calls through the real components: real faster-whisper on real one-channel audio, the real pipeline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from qa.inbox.inputs import InboxItem
from qa.run.pipeline import PipelineSettings, load_conversation
from qa.speech.transcribe import TranscriptionOptions, get_transcriber

REPO = Path(__file__).resolve().parents[1]
MONO = REPO / "tests" / "fixtures" / "audio" / "mono_short.flac"
SAMPLE = REPO / "data" / "samples" / "call_mono.ogg"


def test_mono_file_whose_sidecar_has_no_channels_is_read_as_mono(tmp_path):
    audio = tmp_path / "call.flac"
    shutil.copy(MONO, audio)
    sidecar = tmp_path / "call.json"
    sidecar.write_text(json.dumps({"operator_id": "op-1", "team": "t"}), encoding="utf-8")
    item = InboxItem(str(audio), "call", "sha", str(sidecar))
    conv = load_conversation(item, PipelineSettings(rules_dir=str(REPO / "scripts_rules"), cache_dir=""))
    assert conv.speaker_mode == "mono"
    assert conv.utterances and {u.speaker for u in conv.utterances} == {"unknown"}


def test_pitch_attribution_works_with_the_documented_mono_unknown_sidecar():
    mapping = json.loads(SAMPLE.with_suffix(".json").read_text(encoding="utf-8"))["channels"]
    assert mapping == {"mono": "unknown"}
    transcriber = get_transcriber(TranscriptionOptions(mono_speakers="pitch"), ("Телеком Плюс",))
    transcript = transcriber.transcribe(SAMPLE, channels=mapping)
    assert transcript.speaker_mode == "mono"
    assert transcript.stats["mono_attribution"] == "pitch"
    assert {u.speaker for u in transcript.utterances} <= {"operator", "client"}
