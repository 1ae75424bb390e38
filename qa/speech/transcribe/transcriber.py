"""The decoding of a call: :class:`Transcriber` runs faster-whisper on each speaker channel and assembles the result.

One channel at a time (:mod:`~qa.speech.transcribe.channels` says which is which speaker), the model's segments
pass the guards (:mod:`~qa.speech.transcribe.guards`), speech the batched decoder lost is decoded again
(:mod:`~qa.speech.transcribe.vad`), mono words get their speakers (:mod:`~qa.speech.transcribe.pitch`), and the
words of all channels are merged into turns (:mod:`~qa.speech.transcribe.merging`). Transcripts are cached by
audio content hash and settings (:mod:`~qa.speech.transcribe.transcript`); one transcriber per setting is kept per
process (:func:`get_transcriber`) and its model is shared (:mod:`~qa.speech.transcribe.models`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.speech.audio import (
    TARGET_RATE,
    AudioStream,
    DecodedAudio,
    RawFormat,
    decode_legs,
    decoded_from,
    file_sha256,
    legs_sha256,
)
from qa.speech.transcribe.channels import _channel_plan
from qa.speech.transcribe.guards import _may_hold_speech, drop_alone_turns, guarded_words, normalise_phrase
from qa.speech.transcribe.merging import _RawWord, merge_words
from qa.speech.transcribe.models import _load_model, _LoadedModel
from qa.speech.transcribe.options import TranscriptionOptions
from qa.speech.transcribe.pitch import attribute_by_pitch
from qa.speech.transcribe.transcript import CACHE_VERSION, Transcript, read_cached, write_cached
from qa.speech.transcribe.vad import missed_speech_clips, voice_regions
from qa.speech.transcribe.windows import DEFAULT_WINDOW_S, gather, window_seconds, windows

_VOCABULARY_LIMIT = 60  # Whisper's prompt holds ~220 tokens; faster-whisper keeps only the tail


class Transcriber:
    """Transcribes calls with one set of options and vocabulary; the model loads on first use."""

    def __init__(
        self,
        options: TranscriptionOptions,
        vocabulary: Sequence[str] = (),
        cache_dir: Path | None = None,
    ) -> None:
        self.options = options
        self.vocabulary = tuple(dict.fromkeys(v.strip() for v in vocabulary if v and v.strip()))
        self.cache_dir = cache_dir
        self._loaded: _LoadedModel | None = None
        self._load_lock = threading.Lock()

    # model ---------------------------------------------------------------------------------------
    def _model(self) -> _LoadedModel:
        with self._load_lock:
            if self._loaded is None:
                self._loaded = _load_model(self.options)
            return self._loaded

    def settings(self) -> dict[str, Any]:
        """The options echoed with results: as set, plus the resolved device, compute type, batch."""
        loaded = self._model()
        resolved = self.options.as_dict()
        resolved.update(
            device=loaded.device,
            compute_type=loaded.compute_type,
            batch_size=self.options.resolved_batch_size(loaded.device),
            cpu_threads=self.options.resolved_threads(),
            model_path=str(loaded.path),
            vocabulary=list(self.vocabulary[:_VOCABULARY_LIMIT]),
            **self.priming(),
        )
        return resolved

    def priming(self) -> dict[str, str | None]:
        """The exact ``initial_prompt`` and ``hotwords`` handed to Whisper (None where unused)."""
        terms = ", ".join(self.vocabulary[:_VOCABULARY_LIMIT]) or None
        mode = self.options.use_vocabulary
        return {"initial_prompt": terms if mode == "prompt" else None,
                "hotwords": terms if mode == "hotwords" else None}

    def whisper_kwargs(self) -> dict[str, Any]:
        """The keyword arguments handed to faster-whisper's ``transcribe`` (also used by the bench)."""
        o = self.options
        loaded = self._model()
        kwargs: dict[str, Any] = dict(
            language=o.language,
            beam_size=o.beam_size,
            word_timestamps=True,
            vad_filter=o.vad_filter,
            vad_parameters={
                "threshold": o.vad_threshold,
                "min_silence_duration_ms": o.vad_min_silence_ms,
                "speech_pad_ms": o.vad_speech_pad_ms,
            },
            no_speech_threshold=o.no_speech_threshold,
            log_prob_threshold=o.log_prob_threshold,
            compression_ratio_threshold=o.compression_ratio_threshold,
        )
        kwargs.update({k: v for k, v in self.priming().items() if v})
        batch = o.resolved_batch_size(loaded.device)
        if batch:
            kwargs["batch_size"] = batch
        else:
            kwargs["condition_on_previous_text"] = o.condition_on_previous_text
        return kwargs

    def run_whisper(self, samples: np.ndarray, stats: dict[str, Any] | None = None) -> list[Any]:
        """faster-whisper on one 16 kHz channel, as its list of segments (serialised per model)."""
        loaded = self._model()
        kwargs = self.whisper_kwargs()
        if not _may_hold_speech(samples):
            return []
        if "batch_size" not in kwargs:
            with loaded.lock:
                segments, _info = loaded.model.transcribe(samples, **kwargs)
                return list(segments)
        with loaded.lock:
            segments = list(loaded.batched.transcribe(samples, **kwargs)[0])
        # The batched pipeline decodes each ≤30 s chunk in one pass, and Whisper sometimes ends a
        # chunk early, silently losing speech. Loud stretches that no word covers are checked with
        # VAD and, where they hold speech, decoded again on their own.
        clips = missed_speech_clips(samples, segments, self.options)
        if clips:
            retry = {k: v for k, v in kwargs.items() if k not in ("vad_filter", "vad_parameters")}
            with loaded.lock:
                extra = list(loaded.batched.transcribe(samples, clip_timestamps=clips, vad_filter=False, **retry)[0])
            if stats is not None:
                stats["recovered_segments"] = stats.get("recovered_segments", 0) + len(extra)
            segments = sorted([*segments, *extra], key=lambda seg: seg.start)
        return segments

    # public --------------------------------------------------------------------------------------
    def cache_key(self, channels: Mapping[str, str] | None, raw: RawFormat | None) -> str:
        """Hash of everything besides the audio that changes a transcript."""
        settings = self.options.as_dict()
        settings.pop("cpu_threads")
        payload = {
            "version": CACHE_VERSION,
            "options": settings,
            "vocabulary": list(self.vocabulary),
            "channels": dict(channels) if channels else None,
            "raw": dataclasses.asdict(raw) if raw else None,
        }
        if window_seconds() != DEFAULT_WINDOW_S:  # long calls are cut elsewhere (the default keeps older keys)
            payload["window_s"] = window_seconds()
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def transcribe(
        self,
        path: Path,
        channels: Mapping[str, str] | None = None,
        raw: RawFormat | None = None,
        cache_dir: Path | None = None,
        legs: Sequence[Path] = (),
    ) -> Transcript:
        """Transcribe one call; reuse ``<cache_dir>/<sha256>-<settings hash>.json`` when present. ``legs``: the
        files of a call recorded as split legs, one channel each in that order (``path`` names the call)."""
        path = Path(path)
        sha = legs_sha256(list(legs)) if legs else file_sha256(path)
        folder = cache_dir or self.cache_dir
        cached = folder / f"{sha}-{self.cache_key(channels, raw)}.json" if folder else None
        if cached is not None and cached.is_file():
            transcript = read_cached(cached)
            if transcript is not None:
                for key, value in self.priming().items():  # files cached before the prompt was echoed
                    transcript.options.setdefault(key, value)
                return transcript
        if legs:  # split legs (one file per party) are decoded whole and put side by side as channels
            transcript = self.transcribe_audio(decode_legs(list(legs), raw), path, sha, channels)
        else:
            transcript = self._transcribe_stream(path, raw, sha, channels)
        if cached is not None:
            write_cached(cached, transcript)
        return transcript

    def _transcribe_stream(self, path: Path, raw: RawFormat | None, sha: str,
                           channels: Mapping[str, str] | None) -> Transcript:
        """One file decoded block by block: whole when no longer than a window, else window by window."""
        window_s = window_seconds()
        with AudioStream(path, raw) as stream:
            blocks = stream.blocks()
            first, whole = gather(blocks, window_s)
            if whole:  # a call no longer than a window: decoded whole, as it always was
                return self.transcribe_audio(decoded_from(first, stream), path, sha, channels)
            return self.transcribe_windows(stream, windows(first, blocks, window_s), path, sha, channels)

    def transcribe_audio(
        self,
        audio: DecodedAudio,
        path: Path,
        audio_sha256: str = "",
        channels: Mapping[str, str] | None = None,
    ) -> Transcript:
        """Transcribe already decoded audio (``path`` only names it in errors)."""
        stats: dict[str, Any] = {
            "dropped_hallucinations": 0,
            "dropped_repetitions": 0,
            "dropped_no_speech": 0,
        }
        if audio.notes:
            stats["decode_notes"] = list(audio.notes)
        mode, plan = _channel_plan(audio, channels, path, stats)
        words = self._window_words(audio, plan, stats)
        return self._assemble(words, stats, audio.duration_s, mode, audio_sha256)

    def transcribe_windows(self, stream: AudioStream, parts: Iterator[tuple[int, np.ndarray]], path: Path,
                           audio_sha256: str = "", channels: Mapping[str, str] | None = None) -> Transcript:
        """Transcribe a long call window by window (:mod:`~qa.speech.transcribe.windows`): each window's words and
        voice regions are shifted by its offset, then all are merged as for a whole call. Only one window is held."""
        stats: dict[str, Any] = {"dropped_hallucinations": 0, "dropped_repetitions": 0, "dropped_no_speech": 0}
        words: list[_RawWord] = []
        plan: list[tuple[int, str | None]] | None = None
        mode, count, end = "stereo", 0, 0
        for offset, samples in parts:
            audio = DecodedAudio(list(samples), samples.shape[1] / TARGET_RATE, stream.source_rate,
                                 stream.source_channels or samples.shape[0])
            if plan is None:  # the channel plan (and the identical-channels check) of the first window holds
                mode, plan = _channel_plan(audio, channels, path, stats)
            words.extend(self._window_words(audio, plan, stats, offset / TARGET_RATE))
            count, end = count + 1, offset + samples.shape[1]
            del audio, samples
        stats["windows"] = count
        if stream.notes:
            stats["decode_notes"] = list(stream.notes)
        return self._assemble(words, stats, end / TARGET_RATE, mode, audio_sha256)

    def _window_words(self, audio: DecodedAudio, plan: list[tuple[int, str | None]], stats: dict[str, Any],
                      offset_s: float = 0.0) -> list[_RawWord]:
        """The words of every planned channel of ``audio`` with their speakers, and each named speaker's voice
        regions in ``stats["voice"]``, all shifted by ``offset_s`` (where this window starts in the call)."""
        words: list[_RawWord] = []
        for index, speaker in plan:
            channel_words = self._channel_words(audio.channels[index], stats)
            if speaker is None:
                speaker = self._attribute_mono(audio.channels[index], channel_words, stats)
            else:
                for w in channel_words:
                    w.speaker = speaker
                regions = self.voice_regions(audio.channels[index], audio.source_sample_rate <= 8000)
                voice = stats.setdefault("voice", {})
                if offset_s:
                    voice.setdefault(speaker, []).extend([round(a + offset_s, 3), round(b + offset_s, 3)]
                                                         for a, b in regions)
                else:
                    voice[speaker] = regions
            if offset_s:
                limit = audio.duration_s
                for w in channel_words:
                    w.start, w.end = round(min(w.start, limit) + offset_s, 3), round(min(w.end, limit) + offset_s, 3)
            words.extend(channel_words)
        return words

    def _assemble(self, words: list[_RawWord], stats: dict[str, Any], duration_s: float, mode: str,
                  audio_sha256: str) -> Transcript:
        """The transcript of a call's words: merged into turns, lone inventions dropped, counted."""
        utterances = merge_words(words, self.options.pause_split_s)
        utterances = drop_alone_turns(utterances, stats)
        stats["words"] = sum(len(u.words) for u in utterances)
        speech: dict[str, float] = {}
        for u in utterances:
            speech[u.speaker] = round(speech.get(u.speaker, 0.0) + (u.end - u.start), 3)
        stats["speech_s"] = speech
        return Transcript(
            utterances=utterances,
            duration_s=round(duration_s, 3),
            speaker_mode=mode,
            audio_sha256=audio_sha256,
            stats=stats,
            options=self.settings(),
        )

    def voice_regions(self, samples: np.ndarray, narrowband: bool = False) -> list[list[float]]:
        """Speech regions (seconds, rounded to ms) of one 16 kHz channel by Silero VAD with tight edges
        (see :func:`qa.speech.transcribe.vad.voice_regions`)."""
        return voice_regions(samples, narrowband)

    # guards --------------------------------------------------------------------------------------
    def _channel_words(self, samples: np.ndarray, stats: dict[str, Any]) -> list[_RawWord]:
        """Guarded words of one channel, in time order, timestamps never going backwards."""
        words: list[_RawWord] = []
        for w in guarded_words(self.run_whisper(samples, stats), self.options, self.vocabulary, stats):
            token = w.word.strip()
            if not normalise_phrase(token):
                continue  # lone punctuation
            words.append(_RawWord(token, float(w.start), float(w.end), float(w.probability)))
        words.sort(key=lambda w: w.start)
        previous_end = 0.0
        for w in words:
            w.start = max(w.start, previous_end)
            w.end = max(w.end, w.start)
            previous_end = w.end
        return words

    def _attribute_mono(self, samples: np.ndarray, words: list[_RawWord], stats: dict[str, Any]) -> None:
        """Set the speaker of mono words: by pitch clusters, or ``unknown``."""
        for w in words:
            w.speaker = "unknown"
        stats["mono_attribution"] = "unknown"
        if self.options.mono_speakers != "pitch" or not words:
            return
        labels = attribute_by_pitch(samples, [(w.start, w.end) for w in words])
        if labels is None:
            return
        for w, label in zip(words, labels, strict=True):
            w.speaker = label
        stats["mono_attribution"] = "pitch"


# --- process cache and the bare reference --------------------------------------------------------

_TRANSCRIBERS: dict[tuple[TranscriptionOptions, tuple[str, ...]], Transcriber] = {}
_TRANSCRIBERS_LOCK = threading.Lock()


def get_transcriber(options: TranscriptionOptions, vocabulary: Sequence[str] = ()) -> Transcriber:
    """The process-wide transcriber for these options and vocabulary (models load once per worker)."""
    key = (options, tuple(vocabulary))
    with _TRANSCRIBERS_LOCK:
        transcriber = _TRANSCRIBERS.get(key)
        if transcriber is None:
            transcriber = _TRANSCRIBERS[key] = Transcriber(options, vocabulary)
        return transcriber


def transcribe_bare(transcriber: Transcriber, path: Path) -> list[str]:
    """Reference for the benchmark: faster-whisper's own decoder and ``transcribe`` on each channel
    with the transcriber's settings, without our decoding, guards or merging; one text per channel."""
    from faster_whisper import decode_audio as whisper_decode

    loaded = transcriber._model()
    kwargs = transcriber.whisper_kwargs()
    engine = loaded.batched if "batch_size" in kwargs else loaded.model
    left, right = whisper_decode(str(path), split_stereo=True)
    texts = []
    for samples in (left, right):
        segments, _ = engine.transcribe(samples, **kwargs)
        texts.append(" ".join(s.text.strip() for s in segments))
    return texts
