"""Mono calls through the real components: real faster-whisper and the real speaker encoder on one-channel audio as
PBXs record it (GSM 06.10 WAV and MP3 32 kbit/s copies of eval call e01, made by sox from its master), the pipeline."""

from __future__ import annotations

import json
import random
import shutil
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from qa.inbox.inputs import InboxItem
from qa.run.pipeline import PipelineSettings, load_conversation
from qa.speech.audio import decode_audio, encode_audio
from qa.speech.transcribe import TranscriptionOptions, get_transcriber
from qa_eval.audio_metrics import speaker_right

REPO = Path(__file__).resolve().parents[1]
AUDIO = REPO / "tests" / "fixtures" / "audio"
EVAL_AUDIO = REPO / "tests" / "fixtures" / "eval" / "audio"
TRUTH = json.loads((EVAL_AUDIO / "e01.truth.json").read_text(encoding="utf-8"))
BANK = ("банк Северный", "Северный банк", "Роспотребнадзор", "Роскомнадзор", "Центробанк", "прокуратура")
HINTS = {"brands": ["банк Северный", "Северный банк"], "operator_name": "Максим"}


@pytest.fixture(scope="module")
def transcriber():
    return get_transcriber(TranscriptionOptions(), BANK)


@pytest.fixture(scope="module")
def gsm_call(transcriber, transcript_cache):
    return transcriber.transcribe(AUDIO / "e01_mono_gsm.wav", hints=HINTS, cache_dir=transcript_cache)


def test_a_gsm_mono_call_gets_both_speakers_from_their_voices(gsm_call):
    attribution = gsm_call.stats["mono_attribution"]
    assert gsm_call.speaker_mode == "mono" and attribution["method"] == "voices", attribution
    right, total = speaker_right(TRUTH, gsm_call.utterances)
    assert total >= 25 and right / total >= 0.9, (right, total)
    first = gsm_call.utterances[0]
    assert first.speaker == "operator" and "северн" in first.text.lower()
    assert all(w.speaker_confidence is not None and 0 <= w.speaker_confidence <= 1
               for u in gsm_call.utterances for w in u.words)
    assert set(gsm_call.stats["voice"]) >= {"operator", "client"}  # talk share and overtalk read these


def test_the_eval_voice_pairs_swap_which_role_is_higher():
    """e01's operator is the higher voice, e02's the lower: pitch cannot tell the roles (see make_eval_audio)."""
    truth02 = json.loads((EVAL_AUDIO / "e02.truth.json").read_text(encoding="utf-8"))
    assert TRUTH["operator_higher"] and not truth02["operator_higher"]


def test_corrupt_mp3_frames_mid_call_keep_the_rest_with_a_warning(transcriber, tmp_path):
    data = bytearray((AUDIO / "e01_mono.mp3").read_bytes())
    rng = random.Random(19)
    middle = len(data) // 2
    data[middle:middle + 3000] = bytes(rng.randrange(256) for _ in range(3000))
    damaged = tmp_path / "damaged.mp3"
    damaged.write_bytes(bytes(data))
    transcript = transcriber.transcribe(damaged, hints=HINTS)
    notes = " ".join(transcript.stats["decode_notes"])
    assert "damaged" in notes and "the rest kept" in notes, notes
    assert abs(transcript.duration_s - 22.32) < 0.2  # the lost stretch is silence, not a shift of what follows
    tail = [u for u in transcript.utterances if u.start > TRUTH["turns"][-1]["start"] - 1.0]
    assert tail and "свидания" in " ".join(u.text.lower() for u in tail)


def test_corrupt_gsm_frames_mid_call_keep_the_rest(tmp_path):
    """GSM 06.10 frames carry no check: overwritten bytes decode as a burst of noise, which cannot be told from damage
    (no warning), but the call keeps its length and everything after the burst decodes as it would have."""
    clean = AUDIO / "e01_mono_gsm.wav"
    data = bytearray(clean.read_bytes())
    rng = random.Random(19)
    middle = len(data) // 2
    data[middle:middle + 3000] = bytes(rng.randrange(256) for _ in range(3000))
    damaged = tmp_path / "damaged.wav"
    damaged.write_bytes(bytes(data))
    before, after = decode_audio(clean).channels[0], decode_audio(damaged).channels[0]
    assert after.size == before.size
    changed = np.nonzero(np.abs(after - before) > 1e-4)[0]
    assert changed.size and changed.min() > before.size * 0.4  # the damage is where the bytes were overwritten
    # the decoder is back in step within a fraction of a second: under 3 s differ for about 1.9 s of overwritten frames
    assert (changed.max() - changed.min()) / 16000 < 3.0 and changed.max() < before.size * 0.7


def _mono_ogg(path: Path, samples: np.ndarray) -> Path:
    path.write_bytes(encode_audio([samples], 16000))
    return path


def test_one_voice_is_unknown_with_the_reason(transcriber, tmp_path):
    master = decode_audio(EVAL_AUDIO / "e05.ogg")  # the operator's channel alone: one voice
    path = _mono_ogg(tmp_path / "one_voice.ogg", master.channels[0])
    transcript = transcriber.transcribe(path)
    attribution = transcript.stats["mono_attribution"]
    assert attribution["method"] == "unknown" and attribution["reason"], attribution
    assert {u.speaker for u in transcript.utterances} == {"unknown"}


def test_three_seconds_of_speech_is_unknown_with_the_reason(transcriber, tmp_path):
    master = decode_audio(EVAL_AUDIO / "e05.ogg")
    mix = master.channels[0] + master.channels[1]
    start = int(json.loads((EVAL_AUDIO / "e05.truth.json").read_text(encoding="utf-8"))["turns"][0]["start"] * 16000)
    path = _mono_ogg(tmp_path / "short.ogg", mix[start:start + 3 * 16000])
    transcript = transcriber.transcribe(path)
    attribution = transcript.stats["mono_attribution"]
    assert attribution["method"] == "unknown" and "too little speech" in attribution["reason"], attribution


def test_music_on_hold_alone_is_unknown_with_the_reason(transcriber, tmp_path):
    t = np.arange(20 * 16000) / 16000
    notes = [220.0, 277.2, 329.6, 440.0]
    music = sum(np.sin(2 * np.pi * f * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t + k)) for k, f in enumerate(notes))
    path = _mono_ogg(tmp_path / "hold.ogg", (0.15 * music).astype(np.float32))
    transcript = transcriber.transcribe(path)
    attribution = transcript.stats["mono_attribution"]
    assert attribution["method"] == "unknown" and attribution["reason"], attribution
    assert {u.speaker for u in transcript.utterances} <= {"unknown"}


def test_a_mono_file_whose_sidecar_has_no_channels_is_read_as_mono(tmp_path):
    audio = tmp_path / "call.wav"
    shutil.copy(AUDIO / "e01_mono_gsm.wav", audio)
    sidecar = tmp_path / "call.json"
    sidecar.write_text(json.dumps({"operator_id": "op-1", "team": "team-bank", "operator_name": "Максим",
                                   "direction": "inbound"}), encoding="utf-8")
    item = InboxItem(str(audio), "call", "sha", str(sidecar))
    conv = load_conversation(item, PipelineSettings(rules_dir=str(REPO / "scripts_rules"), cache_dir=""))
    assert conv.speaker_mode == "mono"
    assert {u.speaker for u in conv.utterances} >= {"operator", "client"}
    assert conv.transcription["stats"]["mono_attribution"]["method"] == "voices"


def test_pitch_attribution_is_gone():
    with pytest.raises(ValueError, match="pitch attribution was removed"):
        TranscriptionOptions(mono_speakers="pitch")


def test_a_long_channel_is_transcribed_block_by_block(transcriber, gsm_call, monkeypatch):
    """Blocks of 300 s keep a 2-hour call's memory bounded; here blocks of 8 s on the 22 s call show the seams hold."""
    from qa.speech.transcribe import vad

    monkeypatch.setattr(vad, "BLOCK_S", 8.0)
    bounds = vad.block_bounds(np.zeros(22 * 16000, dtype=np.float32))
    assert len(bounds) >= 2 and bounds[0][0] == 0 and bounds[-1][1] == 22 * 16000
    blocked = transcriber.transcribe(AUDIO / "e01_mono_gsm.wav", hints=HINTS)
    assert blocked.stats["blocks"] >= 2
    words = [w for u in blocked.utterances for w in u.words]
    whole = [w for u in gsm_call.utterances for w in u.words]
    assert len(words) >= 0.85 * len(whole)
    assert all(a.start <= b.start for a, b in pairwise(words))
    assert words[-1].end > 20.0  # the last block's words are at their own times
    right, total = speaker_right(TRUTH, blocked.utterances)
    assert right / total >= 0.85, (right, total)
