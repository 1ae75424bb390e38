"""Transcription: guards against inventions, merging by word timestamps, and the real model on short clips."""

from __future__ import annotations

import contextlib
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from qa.speech.transcribe import (
    HallucinationList,
    Transcriber,
    TranscriptionOptions,
    _RawWord,
    collapse_repetitions,
    get_transcriber,
    hallucination_list,
    merge_words,
    snap_to_voice,
    transcript_from_dict,
    transcript_to_dict,
)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("text", "invented"),
    [
        ("Продолжение следует...", True),
        ("Субтитры сделал DimaTorzok", True),
        ("Субтитры создавал DimaTorzok.", True),
        ("Редактор субтитров А.Синецкая Корректор А.Кулакова", True),
        ("Спасибо за просмотр!", True),
        ("Подписывайтесь на канал!", True),
        ("Спасибо за внимание.", True),
        ("Благодарю за внимание!", True),
        ("СПОКОЙНАЯ МУЗЫКА", True),
        ("Спасибо за ожидание.", False),
        ("Спасибо.", False),
        ("Благодарю за внимание к нашей компании, ваш вопрос решён.", False),
        ("Продолжение разговора следует за ответом клиента", False),
    ],
)
def test_known_inventions_as_a_whole_text(text, invented):
    assert hallucination_list().is_alone_phrase(text) is invented


def test_invented_credits_are_cut_out_of_real_speech():
    words = "Деньги вернутся в течение пяти дней. Продолжение следует...".split()
    spans = hallucination_list().invented_spans(words)
    assert spans == [(6, 8)]
    assert words[6:8] == ["Продолжение", "следует..."]


def test_alone_phrase_inside_speech_is_kept():
    words = "Спасибо за внимание к нашей услуге".split()
    assert hallucination_list().invented_spans(words) == []


def test_list_format():
    parsed = HallucinationList.parse("# comment\nпродолжение следует\nalone: спасибо за внимание\n")
    assert parsed.anywhere == (("продолжение", "следует"),)
    assert ("спасибо", "за", "внимание") in parsed.alone


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("я не знаю я не знаю я не знаю я не знаю", "я не знаю"),
        ("да да да", "да да да"),
        ("да да да да да да да", "да"),
        ("алло алло вы меня слышите", "алло алло вы меня слышите"),
    ],
)
def test_repetition_loops_collapse(text, kept):
    words = text.split()
    assert " ".join(words[i] for i in collapse_repetitions(words)) == kept


def _w(text, start, end, speaker):
    return _RawWord(text, start, end, 0.9, speaker)


def test_merge_cuts_on_turn_change_and_long_pause_keeps_overlap():
    words = [
        _w("Здравствуйте,", 0.0, 0.8, "operator"),
        _w("слушаю.", 0.9, 1.4, "operator"),
        _w("Добрый", 2.0, 2.4, "client"),
        _w("день.", 2.4, 2.8, "client"),
        _w("Чем", 3.0, 3.3, "operator"),  # turn change: a new operator utterance
        _w("помочь?", 3.3, 3.9, "operator"),
        _w("Я", 3.5, 3.6, "client"),  # overtalk: overlaps the operator
        _w("хочу", 3.6, 4.0, "client"),
        _w("Алло?", 6.0, 6.5, "client"),  # pause of 2 s inside the client's speech
    ]
    utterances = merge_words(words, pause_split_s=1.0)
    assert [(u.speaker, u.text) for u in utterances] == [
        ("operator", "Здравствуйте, слушаю."),
        ("client", "Добрый день."),
        ("operator", "Чем помочь?"),
        ("client", "Я хочу"),
        ("client", "Алло?"),
    ]
    assert utterances[3].start < utterances[2].end  # the overlap is kept
    assert [u.start for u in utterances] == sorted(u.start for u in utterances)


def test_a_word_timed_into_the_silence_goes_to_the_next_stretch_of_its_voice():
    # the shape of a noisy 8 kHz call: the batched decoder put «Всего» of «Всего доброго» at the end of the
    # operator's previous stretch, past its voice; the client's «Ладно» lies between, so the farewell was cut in two
    operator_voice = [[8.17, 13.27], [14.86, 16.11]]
    operator = [_w("система", 11.34, 12.0, "operator"), _w("не", 12.0, 12.32, "operator"),
                _w("работает", 12.32, 12.86, "operator"), _w("всего", 12.86, 13.56, "operator"),
                _w("доброго.", 15.05, 15.75, "operator")]
    assert snap_to_voice(operator, operator_voice) == 1
    assert (operator[3].text, operator[3].start, operator[3].end) == ("всего", 14.86, 15.05)
    turns = merge_words([*operator, _w("Ладно.", 13.63, 13.89, "client")], pause_split_s=1.0)
    assert [(u.speaker, u.text) for u in turns][-2:] == [("client", "Ладно."), ("operator", "всего доброго.")]


@pytest.mark.parametrize(("last_end", "next_start", "moved"), [
    (13.1, 15.05, 0),  # a turn's real last word ends inside (or just past) its voice: stays
    (13.3, 15.05, 0),  # 30 ms past the voice's end: within the margin
    (13.56, 13.2, 0),  # the next word is in the same stretch: nothing to move to
    (13.56, None, 0),  # the channel's last word: stays
])
def test_words_that_belong_where_they_are_stay(last_end, next_start, moved):
    words = [_w("работает", 12.32, 12.86, "operator"), _w("всего", 12.86, last_end, "operator")]
    if next_start is not None:
        words.append(_w("доброго.", next_start, next_start + 0.7, "operator"))
    before = [(w.start, w.end) for w in words]
    assert snap_to_voice(words, [[8.17, 13.27], [14.86, 16.11]]) == moved
    assert [(w.start, w.end) for w in words] == before


def test_options_from_env_and_overrides(monkeypatch):
    monkeypatch.setenv("QA_BEAM_SIZE", "2")
    monkeypatch.setenv("QA_BATCH_SIZE", "auto")
    monkeypatch.setenv("QA_DEVICE", "cpu")
    options = TranscriptionOptions.from_env(beam_size=None, cpu_threads=3)
    assert (options.beam_size, options.batch_size, options.device, options.cpu_threads) == (2, None, "cpu", 3)
    assert options.resolved_batch_size("cpu") == 2 and options.resolved_compute_type("cpu") == "int8"
    assert options.resolved_batch_size("cuda") == 16
    assert TranscriptionOptions(batch_size=0).resolved_batch_size("cpu") == 0
    assert options.as_dict()["use_vocabulary"] == "prompt"
    monkeypatch.setenv("QA_PROMPT_TEMPLATE", "Разговор, упоминаются {terms}.")
    assert TranscriptionOptions.from_env().prompt_template == "Разговор, упоминаются {terms}."
    for bad in ("без терминов", "{terms} и {terms}", "{terms} {brand}"):
        with pytest.raises(ValueError, match="prompt_template"):
            TranscriptionOptions(prompt_template=bad)
    monkeypatch.setenv("QA_PROMPT_TEMPLATE", "Разговор")
    with pytest.raises(ValueError, match="QA_PROMPT_TEMPLATE must hold"):
        TranscriptionOptions.from_env()
    monkeypatch.delenv("QA_PROMPT_TEMPLATE")
    monkeypatch.setenv("QA_BEAM_SIZE", "many")
    with pytest.raises(ValueError, match="QA_BEAM_SIZE"):
        TranscriptionOptions.from_env()


# --- the real model (slow) -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def transcriber():
    """The embedded model, loaded once per test session (get_transcriber caches it per process)."""
    return get_transcriber(TranscriptionOptions(), ("Телеком Плюс",))


@pytest.fixture(scope="session")
def two_speakers(transcriber):
    return transcriber.transcribe(FIXTURES / "audio" / "two_speakers.flac")


@pytest.mark.slow
def test_stereo_roles_follow_the_truth(two_speakers):
    truth = json.loads((FIXTURES / "truth" / "two_speakers.json").read_text(encoding="utf-8"))
    assert two_speakers.speaker_mode == "stereo"
    for turn in truth["turns"]:
        overlapping = [u for u in two_speakers.utterances if u.start < turn["end"] and u.end > turn["start"]]
        assert overlapping and {u.speaker for u in overlapping} == {turn["speaker"]}
    assert "телеком" in " ".join(u.text.lower() for u in two_speakers.utterances)


@pytest.mark.slow
def test_word_timestamps_never_go_backwards(two_speakers):
    assert two_speakers.stats["words"] > 3
    for u in two_speakers.utterances:
        assert u.words and u.start == u.words[0].start and u.end >= u.words[-1].end
        for before, after in zip(u.words, u.words[1:], strict=False):
            assert before.start <= before.end <= after.start <= after.end
    starts = [u.start for u in two_speakers.utterances]
    assert starts == sorted(starts)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["test_silence.wav", "silence.wav"])
def test_no_text_on_non_speech(transcriber, shared_data, name):
    transcript = transcriber.transcribe(shared_data / "pisets_testdata_ru" / name)
    assert transcript.utterances == [] and transcript.stats["words"] == 0


@pytest.mark.slow
def test_no_text_on_silence_fixture(transcriber):
    transcript = transcriber.transcribe(FIXTURES / "audio" / "silence_3s.flac")
    assert transcript.utterances == []


@pytest.mark.slow
def test_identical_channels_are_treated_as_mono(transcriber, tmp_path):
    audio = transcriber.transcribe(FIXTURES / "audio" / "two_speakers.flac")  # warm (cached model)
    assert audio.speaker_mode == "stereo"
    from qa.speech.audio import decode_audio

    mono = decode_audio(FIXTURES / "audio" / "mono_short.flac").channels[0]
    pcm = (np.clip(mono, -1, 1) * 32767).astype("<i2")
    path = tmp_path / "dual_mono.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(np.repeat(pcm, 2).tobytes())
    transcript = transcriber.transcribe(path)
    assert transcript.speaker_mode == "mono" and transcript.stats["identical_channels"] is True
    assert transcript.stats["words"] > 0


@pytest.mark.slow
def test_transcript_cache_by_content_hash(transcriber, tmp_path, monkeypatch):
    path = FIXTURES / "audio" / "mono_short.flac"
    first = transcriber.transcribe(path, channels={"0": "operator"}, cache_dir=tmp_path)
    assert [u.speaker for u in first.utterances] == ["operator"] * len(first.utterances)
    cached = list(tmp_path.glob(f"{first.audio_sha256}-*.json"))
    assert len(cached) == 1

    def no_model(*_args, **_kwargs):
        raise AssertionError("the model ran although a cached transcript exists")

    monkeypatch.setattr(Transcriber, "_run", no_model)  # every decode goes through it
    again = transcriber.transcribe(path, channels={"0": "operator"}, cache_dir=tmp_path)
    assert transcript_to_dict(again) == transcript_to_dict(first)
    assert transcript_to_dict(transcript_from_dict(transcript_to_dict(first))) == transcript_to_dict(first)


@pytest.mark.slow
def test_the_decode_without_the_prompt_reuses_the_encoder_and_hears_the_same(transcriber, monkeypatch):
    from qa.speech.audio import decode_audio
    from qa.speech.transcribe.models import Replica

    left = decode_audio(FIXTURES / "audio" / "two_speakers.flac").channels[0]
    narrow = np.repeat(left[::2], 2)  # 8 kHz: Whisper is unsure of some words, so the channel is decoded again
    with transcriber._model().replica() as replica:
        before = replica.batched.model.reused
    stats: dict = {}
    reused = transcriber.run_whisper(narrow, stats)
    assert [e["why"] for e in stats["decoded_again"]] == [["unsure_words"]]
    assert 0 < stats["decoded_again"][0]["unsure_words"] < stats["decoded_again"][0]["words"]
    with transcriber._model().replica() as replica:
        assert replica.batched.model.reused == before + 1  # the plain decode ran no encoder of its own

    monkeypatch.setattr(Replica, "reusing_encoder", lambda _self: contextlib.nullcontext())
    fresh = transcriber.run_whisper(narrow, {})
    assert [(w.word, w.start, w.probability) for s in reused for w in s.words] == \
        [(w.word, w.start, w.probability) for s in fresh for w in s.words]


@pytest.mark.slow
def test_the_cpu_batch_changes_no_word(transcriber):
    """The CPU batch is 2 for memory and speed (options.CPU_BATCH): on a 70 s, 8 kHz MP3 channel (three of Whisper's
    30 s chunks, so two batches of 2 against one of 8) the words, times and probabilities are those of a batch of 8."""
    from qa.speech.audio import decode_audio

    clip = decode_audio(FIXTURES / "audio" / "e01_mono.mp3").channels[0]
    gap = np.zeros(24000, dtype=clip.dtype)
    channel = np.concatenate([clip, gap, clip, gap, clip])
    assert transcriber.whisper_kwargs()["batch_size"] == 2
    eight = get_transcriber(TranscriptionOptions(batch_size=8), transcriber.vocabulary)
    assert eight.whisper_kwargs()["batch_size"] == 8
    two_stats: dict = {}
    two = transcriber.run_whisper(channel, two_stats)
    words = [(w.word, w.start, w.end, w.probability) for s in two for w in s.words]
    assert len(words) > 60 and words[-1][1] > 60
    assert words == [(w.word, w.start, w.end, w.probability) for s in eight.run_whisper(channel, {}) for w in s.words]
