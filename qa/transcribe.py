"""Transcription of calls with faster-whisper (the only user of faster_whisper and ctranslate2).

A stereo call is transcribed channel by channel (operator and client apart, VAD on), then the words
of both channels are merged into turns by their own timestamps, so overtalk stays visible as
overlapping utterances. Known Whisper inventions on silence (subtitle credits, repetition loops,
segments the model itself marks as non-speech) are removed and counted in ``Transcript.stats``.
Each speaker channel's Silero voice regions go to ``Transcript.stats["voice"]`` for the timing metrics
(:mod:`qa.metrics`): talk time, silences and reply latency follow the voice, not the word timestamps.
Models are loaded once per process and shared; transcripts can be cached by audio content hash.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import json
import os
import re
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from qa import process_loads
from qa.audio import DecodedAudio, RawFormat, decode_audio, estimate_pitch, file_sha256
from qa.errors import AudioError
from qa.records import Utterance, Word
from qa.whisper_model import resolve_model

CACHE_VERSION = 4  # 4: per-channel voice regions (Silero, 50 ms pad) in stats["voice"]
DEFAULT_STEREO = {"left": "operator", "right": "client"}
_CHANNEL_NAMES = {"left": 0, "right": 1, "mono": 0}
_VOCABULARY_LIMIT = 60  # Whisper's prompt holds ~220 tokens; faster-whisper keeps only the tail
_IDENTICAL_TOLERANCE = 1e-3
_RATE = 16000
_RETRY_CLIP_S = 28.0
_FRAME_S = 0.05
_WORD_MARGIN_S = 0.4
_MIN_MISSED_S = 1.0
_VOICE_MIN_SILENCE_MS = 300  # voice regions: a pause this long splits them
_VOICE_MIN_SPEECH_MS = 120
_VOICE_PAD_MS = 50  # tight edges: 200 ms (the decoder's pad) put every reply ~0.4 s short on trimmed truth
_VOICE_THRESHOLD = 0.35  # Silero speech probability for voice regions of wideband audio
_VOICE_THRESHOLD_NARROWBAND = 0.2  # telephone band (≤ 8 kHz sources): Silero is less sure of speech


def cuda_available() -> bool:
    """Whether CTranslate2 sees a CUDA device."""
    import ctranslate2

    try:
        return ctranslate2.get_cuda_device_count() > 0
    except Exception:  # a CPU-only build may raise instead of returning 0
        return False


DEVICES = ("auto", "cpu", "cuda")


def check_device(device: str | None) -> None:
    """Raise :class:`ModelError` unless ``device`` (``None`` means ``QA_DEVICE`` or auto) can run the model."""
    from qa.errors import ModelError

    device = device or os.environ.get("QA_DEVICE") or "auto"
    if device not in DEVICES:
        raise ModelError(f"device {device!r} is not one of {', '.join(DEVICES)}"
                         + (" (for a GPU use cuda)" if device.lower() in ("gpu", "cuda:0", "nvidia") else ""))
    if device == "cuda" and not cuda_available():
        raise ModelError("device 'cuda': CTranslate2 sees no CUDA GPU here; use --device cpu or auto")


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class TranscriptionOptions:
    """How calls are transcribed; stored with every run so a result can be reproduced.

    Defaults were measured on 2 CPU cores with the embedded ``base`` model on the synthetic stereo
    call of ``../shared/data/synthetic_call_ru`` (see ``benchmarks/bench_asr.py``).

    Attributes:
      model: ``"base"``/``"embedded"`` for the embedded model, or a local CTranslate2 folder.
      device: ``"auto"`` (CUDA when CTranslate2 sees a GPU, else CPU), ``"cpu"`` or ``"cuda"``.
      compute_type: ``"auto"`` (int8 on CPU, float16 on CUDA) or any CTranslate2 compute type.
      beam_size: beam width; 5 gave a lower WER than 1 at little cost in the batched pipeline.
      language: the spoken language; fixed so that no language detection runs.
      vad_filter: cut non-speech with Silero VAD before decoding (needed against inventions).
      vad_threshold: Silero speech probability above which a frame is speech.
      vad_min_silence_ms: silence that ends a speech chunk.
      vad_speech_pad_ms: padding added around each speech chunk.
      batch_size: chunks decoded together by faster-whisper's batched pipeline; 0 decodes chunk
        by chunk (sequential pipeline); ``None`` picks 8 on CPU and 16 on CUDA.
      cpu_threads: CTranslate2 threads; 0 uses every core this process may run on.
      condition_on_previous_text: feed the previous window's text as a prompt (sequential pipeline
        only); off by default because it lets one mistake turn into a repetition loop.
      use_vocabulary: how rule-set terms (company and product names) reach the model:
        ``"prompt"`` (initial prompt), ``"hotwords"`` or ``"none"``.
      pause_split_s: a pause longer than this inside one speaker's speech starts a new utterance.
      no_speech_threshold: with ``log_prob_threshold``, drop a segment whose no-speech probability
        is above this while its average log-probability is below that.
      log_prob_threshold: see ``no_speech_threshold``.
      compression_ratio_threshold: drop a segment whose text compresses better than this
        (a repetition loop) after its repeated n-grams were collapsed.
      mono_speakers: speaker attribution on one-channel audio: ``"unknown"`` (default) or ``"pitch"``
        (two voices told apart by pitch, the first to speak taken as the operator; opt-in because it
        put only 149 of 198 words on the right speaker on a mixdown of the synthetic call).
    """

    model: str = "base"
    device: str = "auto"
    compute_type: str = "auto"
    beam_size: int = 5
    language: str = "ru"
    vad_filter: bool = True
    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 500
    vad_speech_pad_ms: int = 200
    batch_size: int | None = None
    cpu_threads: int = 0
    condition_on_previous_text: bool = False
    use_vocabulary: str = "prompt"
    pause_split_s: float = 1.0
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    mono_speakers: str = "unknown"

    def __post_init__(self) -> None:
        if self.use_vocabulary not in ("prompt", "hotwords", "none"):
            raise ValueError(f"use_vocabulary must be prompt, hotwords or none, not {self.use_vocabulary!r}")
        if self.mono_speakers not in ("pitch", "unknown"):
            raise ValueError(f"mono_speakers must be pitch or unknown, not {self.mono_speakers!r}")

    def as_dict(self) -> dict[str, Any]:
        """The options as plain JSON-able values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_env(cls, **overrides: Any) -> TranscriptionOptions:
        """Options from ``QA_WHISPER_MODEL``, ``QA_DEVICE``, ``QA_COMPUTE_TYPE``, ``QA_BEAM_SIZE``,
        ``QA_BATCH_SIZE`` (a number or ``auto``), ``QA_CPU_THREADS`` and ``QA_MONO_SPEAKERS``; non-None overrides
        win."""
        values: dict[str, Any] = {}
        env = os.environ
        for name, key, kind in (
            ("QA_WHISPER_MODEL", "model", str),
            ("QA_DEVICE", "device", str),
            ("QA_COMPUTE_TYPE", "compute_type", str),
            ("QA_BEAM_SIZE", "beam_size", int),
            ("QA_BATCH_SIZE", "batch_size", int),
            ("QA_CPU_THREADS", "cpu_threads", int),
            ("QA_MONO_SPEAKERS", "mono_speakers", str),
        ):
            raw = env.get(name, "").strip()
            if not raw:
                continue
            if key == "batch_size" and raw.lower() == "auto":
                values[key] = None
                continue
            try:
                values[key] = kind(raw)
            except ValueError as exc:
                raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}") from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def resolved_device(self) -> str:
        """``cuda`` or ``cpu``."""
        if self.device == "auto":
            return "cuda" if cuda_available() else "cpu"
        return self.device

    def resolved_compute_type(self, device: str) -> str:
        """The compute type to load the model with on ``device``."""
        if self.compute_type == "auto":
            return "float16" if device == "cuda" else "int8"
        return self.compute_type

    def resolved_batch_size(self, device: str) -> int:
        """0 for the sequential pipeline, else the batch size."""
        if self.batch_size is None:
            return 16 if device == "cuda" else 8
        return max(0, self.batch_size)

    def resolved_threads(self) -> int:
        """CTranslate2 CPU threads."""
        return self.cpu_threads or _default_threads()


@dataclass
class Transcript:
    """The words of one call, grouped into speaker turns, with what the guards removed."""

    utterances: list[Utterance]  # speaker and words set; tokens left empty
    duration_s: float
    speaker_mode: str  # stereo | mono
    audio_sha256: str
    stats: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


def transcript_to_dict(transcript: Transcript) -> dict[str, Any]:
    """A JSON-able dict of a transcript (the cache format)."""
    return {
        "version": CACHE_VERSION,
        "duration_s": transcript.duration_s,
        "speaker_mode": transcript.speaker_mode,
        "audio_sha256": transcript.audio_sha256,
        "stats": transcript.stats,
        "options": transcript.options,
        "utterances": [
            {
                "speaker": u.speaker,
                "start": u.start,
                "end": u.end,
                "text": u.text,
                "words": [[w.text, w.start, w.end, w.probability] for w in u.words],
            }
            for u in transcript.utterances
        ],
    }


def transcript_from_dict(data: Mapping[str, Any]) -> Transcript:
    """The inverse of :func:`transcript_to_dict`."""
    utterances = [
        Utterance(
            speaker=u["speaker"],
            start=float(u["start"]),
            end=float(u["end"]),
            text=u["text"],
            words=tuple(Word(str(t), float(s), float(e), float(p)) for t, s, e, p in u["words"]),
        )
        for u in data["utterances"]
    ]
    return Transcript(
        utterances=utterances,
        duration_s=float(data["duration_s"]),
        speaker_mode=data["speaker_mode"],
        audio_sha256=data["audio_sha256"],
        stats=dict(data.get("stats", {})),
        options=dict(data.get("options", {})),
    )


# --- hallucination guard -------------------------------------------------------------------------

_NON_WORD = re.compile(r"[^\w]+")
_BRACKETED = re.compile(r"^\s*(?:[\[(*♪♫].*[\])*♪♫]|[♪♫\s]+)\s*$")


def normalise_phrase(text: str) -> list[str]:
    """Lower case, ё→е, punctuation removed: the tokens a phrase is matched on."""
    return _NON_WORD.sub(" ", text.lower().replace("ё", "е")).split()


@dataclass(frozen=True)
class HallucinationList:
    """Known inventions: ``anywhere`` phrases are removed wherever they occur, ``alone`` phrases
    only when they are a segment's or a turn's whole text."""

    anywhere: tuple[tuple[str, ...], ...]
    alone: frozenset[tuple[str, ...]]

    @classmethod
    def parse(cls, text: str) -> HallucinationList:
        """Read the list format of ``qa/data/hallucinations_ru.txt``."""
        anywhere: list[tuple[str, ...]] = []
        alone: set[tuple[str, ...]] = set()
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("alone:"):
                alone.add(tuple(normalise_phrase(line[len("alone:") :])))
            else:
                anywhere.append(tuple(normalise_phrase(line)))
        anywhere.sort(key=len, reverse=True)  # longest first, so a credit line goes in one piece
        return cls(tuple(p for p in anywhere if p), frozenset(p for p in alone if p))

    def is_alone_phrase(self, text: str) -> bool:
        """Whether ``text`` is, as a whole, a phrase known to be invented on silence."""
        tokens = tuple(normalise_phrase(text))
        return bool(tokens) and (tokens in self.alone or tokens in self.anywhere)

    def invented_spans(self, words: Sequence[str]) -> list[tuple[int, int]]:
        """Index ranges ``[i, j)`` of ``words`` covered by an ``anywhere`` phrase."""
        flat: list[str] = []
        owner: list[int] = []
        for index, word in enumerate(words):
            for token in normalise_phrase(word):
                flat.append(token)
                owner.append(index)
        spans: list[tuple[int, int]] = []
        taken = [False] * len(flat)
        for phrase in self.anywhere:
            n = len(phrase)
            for i in range(len(flat) - n + 1):
                if not taken[i] and tuple(flat[i : i + n]) == phrase and not any(taken[i : i + n]):
                    taken[i : i + n] = [True] * n
                    spans.append((owner[i], owner[i + n - 1] + 1))
        return sorted(spans)


@cache
def hallucination_list() -> HallucinationList:
    """The packaged Russian list (read once)."""
    text = (resources.files("qa") / "data" / "hallucinations_ru.txt").read_text(encoding="utf-8")
    return HallucinationList.parse(text)


def collapse_repetitions(words: Sequence[str], max_n: int = 6) -> list[int]:
    """Indices of ``words`` to keep after collapsing loops (an n-gram repeated back to back:
    ≥5 times for single words, ≥3 times for longer n-grams) to its first occurrence."""
    tokens = [" ".join(normalise_phrase(w)) for w in words]
    keep = [True] * len(tokens)
    for n in range(1, max_n + 1):
        min_repeats = 5 if n == 1 else 3
        i = 0
        while i + n * min_repeats <= len(tokens):
            gram = tokens[i : i + n]
            repeats = 1
            while tokens[i + repeats * n : i + (repeats + 1) * n] == gram:
                repeats += 1
            if repeats >= min_repeats and any(gram):
                for k in range(i + n, i + repeats * n):
                    keep[k] = False
                i += repeats * n
            else:
                i += 1
    return [i for i, k in enumerate(keep) if k]


def compression_ratio(text: str) -> float:
    """Whisper's repetition measure: text bytes over zlib-compressed bytes."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


# --- model cache ---------------------------------------------------------------------------------


@dataclass
class _LoadedModel:
    model: Any  # faster_whisper.WhisperModel
    batched: Any  # faster_whisper.BatchedInferencePipeline
    lock: threading.Lock
    path: Path
    device: str
    compute_type: str


_MODELS: dict[tuple[str, str, str, int], _LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def _load_model(options: TranscriptionOptions) -> _LoadedModel:
    """Load (once per process) the Whisper model the options point at."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = resolve_model(options.model)
    device = options.resolved_device()
    compute_type = options.resolved_compute_type(device)
    threads = options.resolved_threads()
    key = (str(path.resolve()), device, compute_type, threads)
    with _MODELS_LOCK:
        loaded = _MODELS.get(key)
        if loaded is None:
            from faster_whisper import BatchedInferencePipeline, WhisperModel

            model = WhisperModel(
                str(path),
                device=device,
                compute_type=compute_type,
                cpu_threads=threads,
                local_files_only=True,
            )
            loaded = _LoadedModel(model, BatchedInferencePipeline(model), threading.Lock(), path, device, compute_type)
            _MODELS[key] = loaded
            process_loads.record("whisper")
    return loaded


# --- transcription -------------------------------------------------------------------------------


@dataclass
class _RawWord:
    text: str
    start: float
    end: float
    probability: float
    speaker: str = "unknown"


def _channel_plan(
    audio: DecodedAudio, channels: Mapping[str, str] | None, path: Path, stats: dict[str, Any]
) -> tuple[str, list[tuple[int, str | None]]]:
    """The speaker mode and the (channel index, speaker) pairs to transcribe; None = attribute."""
    count = len(audio.channels)
    if count == 2 and float(np.max(np.abs(audio.channels[0] - audio.channels[1]))) <= _IDENTICAL_TOLERANCE:
        stats["identical_channels"] = True
        count = 1
    if channels:
        plan: list[tuple[int, str | None]] = []
        for name, speaker in channels.items():
            key = str(name).strip().lower()
            index = _CHANNEL_NAMES.get(key, int(key) if key.isdigit() else -1)
            if index < 0:
                raise ValueError(f"unknown channel name {name!r}: use left, right or a channel number")
            if index >= len(audio.channels):
                raise AudioError(path, f"channel {name!r} is named but the file has {count} channel(s)")
            plan.append((index, None if speaker == "unknown" else speaker))  # unknown: attribute (pitch)
        if count == 1:  # one voice track: a single named speaker, else attribute
            plan = plan if len(plan) == 1 and plan[0][0] == 0 else [(0, None)]
        return ("stereo" if len(plan) > 1 else "mono"), plan
    if count == 1:
        return "mono", [(0, None)]
    if count == 2:
        return "stereo", [(0, DEFAULT_STEREO["left"]), (1, DEFAULT_STEREO["right"])]
    raise AudioError(
        path,
        f"{count} audio channels; say which channel is which speaker (channels mapping such as "
        '{"0": "operator", "1": "client"})',
    )


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
        clips = self._missed_speech(samples, segments)
        if clips:
            retry = {k: v for k, v in kwargs.items() if k not in ("vad_filter", "vad_parameters")}
            with loaded.lock:
                extra = list(loaded.batched.transcribe(samples, clip_timestamps=clips, vad_filter=False, **retry)[0])
            if stats is not None:
                stats["recovered_segments"] = stats.get("recovered_segments", 0) + len(extra)
            segments = sorted([*segments, *extra], key=lambda seg: seg.start)
        return segments

    def _missed_speech(self, samples: np.ndarray, segments: Sequence[Any]) -> list[dict[str, float]]:
        """Clips (seconds) of VAD speech inside loud stretches that no decoded word covers."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        covered = [(min(w.start, w.end - _least_duration(w.word)), w.end) for seg in segments for w in seg.words or []]
        regions = uncovered_loud_regions(samples, covered)
        if not regions:
            return []
        o = self.options
        vad = VadOptions(
            threshold=o.vad_threshold,
            min_silence_duration_ms=o.vad_min_silence_ms,
            speech_pad_ms=o.vad_speech_pad_ms,
            max_speech_duration_s=_RETRY_CLIP_S,
        )
        clips: list[dict[str, float]] = []
        for start, end in regions:
            offset = int(start * _RATE)
            for ts in get_speech_timestamps(samples[offset : int(end * _RATE)], vad):
                a, b = (offset + ts["start"]) / _RATE, (offset + ts["end"]) / _RATE
                if clips and a - clips[-1]["end"] < 1.0 and b - clips[-1]["start"] <= _RETRY_CLIP_S:
                    clips[-1]["end"] = b
                elif b - a >= 0.5:
                    clips.append({"start": a, "end": b})
        return clips

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
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def transcribe(
        self,
        path: Path,
        channels: Mapping[str, str] | None = None,
        raw: RawFormat | None = None,
        cache_dir: Path | None = None,
    ) -> Transcript:
        """Transcribe one call; reuse ``<cache_dir>/<sha256>-<settings hash>.json`` when present."""
        path = Path(path)
        sha = file_sha256(path)
        folder = cache_dir or self.cache_dir
        cached = folder / f"{sha}-{self.cache_key(channels, raw)}.json" if folder else None
        if cached is not None and cached.is_file():
            try:
                transcript = transcript_from_dict(json.loads(cached.read_text(encoding="utf-8")))
                for key, value in self.priming().items():  # files cached before the prompt was echoed
                    transcript.options.setdefault(key, value)
                return transcript
            except (ValueError, KeyError, TypeError):
                cached.unlink(missing_ok=True)
        transcript = self.transcribe_audio(decode_audio(path, raw), path, sha, channels)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(transcript_to_dict(transcript), ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, cached)
        return transcript

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
        words: list[_RawWord] = []
        for index, speaker in plan:
            channel_words = self._channel_words(audio.channels[index], stats)
            if speaker is None:
                speaker = self._attribute_mono(audio.channels[index], channel_words, stats)
            else:
                for w in channel_words:
                    w.speaker = speaker
                voice = stats.setdefault("voice", {})
                voice[speaker] = self.voice_regions(audio.channels[index], audio.source_sample_rate <= 8000)
            words.extend(channel_words)
        utterances = merge_words(words, self.options.pause_split_s)
        utterances = self._drop_alone_turns(utterances, stats)
        stats["words"] = sum(len(u.words) for u in utterances)
        speech: dict[str, float] = {}
        for u in utterances:
            speech[u.speaker] = round(speech.get(u.speaker, 0.0) + (u.end - u.start), 3)
        stats["speech_s"] = speech
        return Transcript(
            utterances=utterances,
            duration_s=round(audio.duration_s, 3),
            speaker_mode=mode,
            audio_sha256=audio_sha256,
            stats=stats,
            options=self.settings(),
        )

    def voice_regions(self, samples: np.ndarray, narrowband: bool = False) -> list[list[float]]:
        """Speech regions (seconds, rounded to ms) of one 16 kHz channel by Silero VAD, the detector
        faster-whisper ships, with a 50 ms pad (tight edges: talk time, gaps and replies follow the voice).

        ``narrowband`` (a source sampled at 8 kHz or less) lowers the speech threshold: on the
        telephone band Silero's probabilities fall and 0.5 missed ~20 % of the synthetic call's speech.
        """
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        if not _may_hold_speech(samples):
            return []
        vad = VadOptions(threshold=_VOICE_THRESHOLD_NARROWBAND if narrowband else _VOICE_THRESHOLD,
                         min_silence_duration_ms=_VOICE_MIN_SILENCE_MS, speech_pad_ms=_VOICE_PAD_MS,
                         min_speech_duration_ms=_VOICE_MIN_SPEECH_MS)
        limit = samples.size / _RATE
        return [[round(ts["start"] / _RATE, 3), round(min(ts["end"] / _RATE, limit), 3)]
                for ts in get_speech_timestamps(samples, vad)]

    # guards --------------------------------------------------------------------------------------
    def _channel_words(self, samples: np.ndarray, stats: dict[str, Any]) -> list[_RawWord]:
        """Guarded words of one channel, in time order, timestamps never going backwards."""
        o = self.options
        guard = hallucination_list()
        vocabulary_tokens = {t for term in self.vocabulary for t in normalise_phrase(term)}
        words: list[_RawWord] = []
        for segment in self.run_whisper(samples, stats):
            seg_words = list(segment.words or [])
            if not seg_words:
                continue
            if segment.no_speech_prob > o.no_speech_threshold and segment.avg_logprob < o.log_prob_threshold:
                stats["dropped_no_speech"] += 1
                continue
            text = "".join(w.word for w in seg_words)
            if _BRACKETED.match(text) or guard.is_alone_phrase(text):
                stats["dropped_hallucinations"] += 1
                continue
            if o.use_vocabulary == "prompt" and vocabulary_tokens and segment.no_speech_prob > 0.3:
                tokens = normalise_phrase(text)
                if tokens and set(tokens) <= vocabulary_tokens:  # the prompt read back on noise
                    stats["dropped_hallucinations"] += 1
                    continue
            spans = guard.invented_spans([w.word for w in seg_words])
            if spans:
                stats["dropped_hallucinations"] += len(spans)
                cut = {i for a, b in spans for i in range(a, b)}
                seg_words = [w for i, w in enumerate(seg_words) if i not in cut]
            keep = collapse_repetitions([w.word for w in seg_words])
            if len(keep) < len(seg_words):
                stats["dropped_repetitions"] += len(seg_words) - len(keep)
                seg_words = [seg_words[i] for i in keep]
            kept_text = "".join(w.word for w in seg_words)
            if len(kept_text) > 40 and compression_ratio(kept_text) > o.compression_ratio_threshold:
                stats["dropped_repetitions"] += len(seg_words)
                continue
            for w in seg_words:
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

    def _drop_alone_turns(self, utterances: list[Utterance], stats: dict[str, Any]) -> list[Utterance]:
        guard = hallucination_list()
        kept = []
        for u in utterances:
            if guard.is_alone_phrase(u.text):
                stats["dropped_hallucinations"] += 1
            else:
                kept.append(u)
        return kept

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


def _may_hold_speech(samples: np.ndarray) -> bool:
    """False for audio that cannot hold speech (digital silence), which skips the model entirely."""
    return samples.size > 0 and float(np.max(np.abs(samples))) > 1e-4


def _least_duration(word: str) -> float:
    """The least time a word takes to say: Whisper sometimes squeezes a long number into an instant
    at its end, which must not look like missed speech before it."""
    digits = sum(c.isdigit() for c in word)
    letters = sum(c.isalpha() for c in word)
    return 0.3 * digits + 0.05 * letters


def uncovered_loud_regions(
    samples: np.ndarray, covered: Sequence[tuple[float, float]], rate: int = _RATE
) -> list[tuple[float, float]]:
    """Stretches (seconds) with at least 1 s of sound well above the noise floor and no word near."""
    frame = int(_FRAME_S * rate)
    count = samples.size // frame
    if count == 0:
        return []
    rms = np.sqrt(np.mean(samples[: count * frame].reshape(count, frame) ** 2, axis=1))
    loud = rms > max(10 ** (-50 / 20), 3 * float(np.percentile(rms, 10)))
    for start, end in covered:
        a = max(0, int((start - _WORD_MARGIN_S) / _FRAME_S))
        loud[a : int((end + _WORD_MARGIN_S) / _FRAME_S) + 1] = False
    regions: list[list[float]] = []
    for index in np.flatnonzero(loud):
        t = index * _FRAME_S
        if regions and t - regions[-1][1] <= 0.5:
            regions[-1][1] = t + _FRAME_S
            regions[-1][2] += _FRAME_S
        else:
            regions.append([t, t + _FRAME_S, _FRAME_S])
    return [(max(0.0, a - 0.3), b + 0.3) for a, b, loud_s in regions if loud_s >= _MIN_MISSED_S]


# --- mono speaker attribution --------------------------------------------------------------------

_PITCH_ISLAND_GAP = 0.3  # words closer than this are one island, assumed one speaker


def attribute_by_pitch(samples: np.ndarray, spans: Sequence[tuple[float, float]]) -> list[str] | None:
    """Operator/client labels for word spans of one mono channel, from two pitch clusters.

    Words are grouped into islands of continuous speech; each island's median pitch is split into
    two clusters (1-D 2-means on log pitch). The cluster of the first island is the operator (who
    opens an inbound call). Returns None when the voices are not separable (one speaker, or the
    clusters less than ~1.5 semitones apart), so the caller keeps ``unknown``.
    """
    islands: list[list[int]] = []
    for i, (start, _end) in enumerate(spans):
        if islands and start - spans[islands[-1][-1]][1] <= _PITCH_ISLAND_GAP:
            islands[-1].append(i)
        else:
            islands.append([i])
    ranges = [(spans[isl[0]][0], spans[isl[-1]][1]) for isl in islands]
    pitches = estimate_pitch(samples, ranges)
    known = [(k, np.log2(p)) for k, p in enumerate(pitches) if p]
    if len(known) < 2:
        return None
    values = np.array([v for _, v in known])
    low, high = float(np.percentile(values, 20)), float(np.percentile(values, 80))
    for _ in range(20):
        split = (low + high) / 2
        a, b = values[values <= split], values[values > split]
        if a.size == 0 or b.size == 0:
            return None
        low, high = float(a.mean()), float(b.mean())
    if (high - low) * 12 < 1.5:
        return None
    split = (low + high) / 2
    cluster = [None] * len(islands)
    for k, v in known:
        cluster[k] = v > split
    for k in range(len(cluster)):  # unvoiced islands take the cluster of their neighbour
        if cluster[k] is None:
            cluster[k] = next((c for c in cluster[k::-1] if c is not None), None)
            if cluster[k] is None:
                cluster[k] = next(c for c in cluster[k:] if c is not None)
    operator_cluster = cluster[0]
    labels: list[str] = [""] * len(spans)
    for isl, c in zip(islands, cluster, strict=True):
        for i in isl:
            labels[i] = "operator" if c == operator_cluster else "client"
    return labels


# --- merging -------------------------------------------------------------------------------------


def merge_words(words: Sequence[_RawWord], pause_split_s: float) -> list[Utterance]:
    """Group words into utterances by their timestamps, per speaker.

    A speaker's run of words is cut at a pause longer than ``pause_split_s`` or where another
    speaker's word lies wholly in the gap (a turn change). Runs of different speakers may overlap
    in time (overtalk). Utterances come back sorted by start.
    """
    by_speaker: dict[str, list[_RawWord]] = {}
    for w in words:
        by_speaker.setdefault(w.speaker, []).append(w)
    utterances: list[Utterance] = []
    for speaker, own in by_speaker.items():
        own.sort(key=lambda w: w.start)
        others = sorted((w.start + w.end) / 2 for w in words if w.speaker != speaker)
        run: list[_RawWord] = []
        for w in own:
            if run:
                gap_start, gap_end = run[-1].end, w.start
                between = bisect.bisect_right(others, gap_end) - bisect.bisect_left(others, gap_start)
                if gap_end - gap_start > pause_split_s or (between > 0 and gap_end > gap_start):
                    utterances.append(_utterance(speaker, run))
                    run = []
            run.append(w)
        if run:
            utterances.append(_utterance(speaker, run))
    utterances.sort(key=lambda u: (u.start, u.end))
    return utterances


def _utterance(speaker: str, run: Sequence[_RawWord]) -> Utterance:
    words = tuple(Word(w.text, round(w.start, 3), round(w.end, 3), round(w.probability, 4)) for w in run)
    return Utterance(
        speaker=speaker,
        start=words[0].start,
        end=max(w.end for w in words),
        text=" ".join(w.text for w in words),
        words=words,
    )


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
