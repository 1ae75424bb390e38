"""The decoding of a call: :class:`Transcriber` runs faster-whisper on each speaker channel and assembles the result.

One channel at a time (:mod:`~qa.speech.transcribe.channels` says which is which speaker), the channel is decoded
(:mod:`~qa.speech.transcribe.decoding`: speech the batched decoder lost decoded again, a primed decode in doubt decoded
again without the prompt and the better one kept stretch by stretch), the model's segments pass the guards
(:mod:`~qa.speech.transcribe.guards`), mono words get their speakers from two voices told
apart (:mod:`qa.speech.diarize`), and the words of all channels are merged into turns
(:mod:`~qa.speech.transcribe.merging`). Transcripts are cached by
audio content hash and settings (:mod:`~qa.speech.transcribe.transcript`); one transcriber per setting is kept per
process (:func:`get_transcriber`) and its model is shared (:mod:`~qa.speech.transcribe.models`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from qa.speech.audio import TARGET_RATE, AudioStream, BlockSource, DecodedAudio, RawFormat, decoded_from, file_sha256
from qa.speech.legs import LegsStream, legs_sha256
from qa.speech.transcribe.allocator import release_memory
from qa.speech.transcribe.channels import _channel_plan
from qa.speech.transcribe.decoding import PRIMING, ChannelDecode, decode_channel
from qa.speech.transcribe.guards import drop_alone_turns, guarded_words, normalise_phrase
from qa.speech.transcribe.merging import _RawWord, merge_words, snap_to_voice
from qa.speech.transcribe.models import LoadedModel, load_model
from qa.speech.transcribe.options import DEFAULT_PROMPT_TEMPLATE, TranscriptionOptions
from qa.speech.transcribe.redecode import PromptTerms, confirmed
from qa.speech.transcribe.transcript import CACHE_VERSION, Transcript, data_digest, read_cached, write_cached
from qa.speech.transcribe.vad import voice_regions
from qa.speech.transcribe.windows import DEFAULT_WINDOW_S, gather, window_batch_size, window_seconds, windows

_VOCABULARY_LIMIT = 60  # Whisper's prompt holds ~220 tokens; faster-whisper keeps only the tail
# True while this thread transcribes a long call window by window: Whisper's batch is capped and memory handed back
_IN_WINDOWS: ContextVar[bool] = ContextVar("qa_in_windows", default=False)


class Transcriber:
    """Transcribes calls with one set of options and vocabulary; the model loads on first use.

    ``replicas``: how many calls may be transcribed at once through this transcriber's model (from as many
    threads); see :mod:`~qa.speech.transcribe.concurrency`.
    """

    def __init__(
        self,
        options: TranscriptionOptions,
        vocabulary: Sequence[str] = (),
        cache_dir: Path | None = None,
        replicas: int = 1,
    ) -> None:
        self.options = options
        self.vocabulary = tuple(dict.fromkeys(v.strip() for v in vocabulary if v and v.strip()))
        self.cache_dir = cache_dir
        self.prompt_terms = PromptTerms.of(self.vocabulary[:_VOCABULARY_LIMIT])
        self.replicas = max(1, replicas)
        self._loaded: LoadedModel | None = None
        self._load_lock = threading.Lock()

    # model ---------------------------------------------------------------------------------------
    def _model(self) -> LoadedModel:
        with self._load_lock:
            if self._loaded is None:
                self._loaded = load_model(self.options, self.replicas)
            return self._loaded

    def settings(self) -> dict[str, Any]:
        """The options echoed with results: as set, plus the resolved device, compute type, batch."""
        loaded = self._model()
        resolved = self.options.as_dict()
        resolved.update(
            device=loaded.device,
            compute_type=loaded.compute_type,
            batch_size=self._batch_size(loaded.device),
            cpu_threads=self.options.resolved_threads(),
            model_path=str(loaded.path),
            vocabulary=list(self.vocabulary[:_VOCABULARY_LIMIT]),
            **self.priming(),
        )
        return resolved

    def priming(self) -> dict[str, str | None]:
        """The exact ``initial_prompt`` and ``hotwords`` handed to Whisper (None where unused)."""
        joined = ", ".join(self.vocabulary[:_VOCABULARY_LIMIT])
        terms = self.options.prompt_template.replace("{terms}", joined) if joined else None
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
        batch = self._batch_size(loaded.device)
        if batch:
            kwargs["batch_size"] = batch
        else:
            kwargs["condition_on_previous_text"] = o.condition_on_previous_text
        return kwargs

    def _batch_size(self, device: str) -> int:
        """The batch of this decode: the options' (0: sequential), capped for the windows of a long call
        (:func:`~qa.speech.transcribe.windows.window_batch_size`: the batch is what a window's memory is made of)."""
        batch = self.options.resolved_batch_size(device)
        return window_batch_size(batch, device) if _IN_WINDOWS.get() else batch

    def _job(self) -> ChannelDecode:
        """What :func:`~qa.speech.transcribe.decoding.decode_channel` needs besides the audio."""
        return ChannelDecode(self._model(), self.whisper_kwargs(), self.options, self.prompt_terms)

    def run_whisper(self, samples: np.ndarray, stats: dict[str, Any] | None = None,
                    regions: list[list[float]] | None = None) -> list[Any]:
        """faster-whisper on one 16 kHz channel, as its list of segments (each decode on a model replica of its own).

        A primed decode in doubt (a loop, the prompt read back, voice left uncovered, a word heard unsure) is decoded
        again without the prompt, and the better one kept stretch by stretch, then word span by word span
        (:func:`~qa.speech.transcribe.redecode.combine`); ``stats["decoded_again"]`` says why and what was kept.
        """
        return self._run(samples, stats, regions)[0]

    def _run(self, samples: np.ndarray, stats: dict[str, Any] | None,
             regions: list[list[float]] | None) -> tuple[list[Any], list[Any]]:
        """The kept segments and the words of the other decode (every decode goes through here)."""
        return decode_channel(self._job(), samples, stats, regions)

    # public --------------------------------------------------------------------------------------
    def cache_key(self, channels: Mapping[str, str] | None, raw: RawFormat | None,
                  hints: Mapping[str, Any] | None = None) -> str:
        """Hash of everything besides the audio that changes a transcript (the packaged word lists too)."""
        settings = self.options.as_dict()
        settings.pop("cpu_threads")
        if settings["prompt_template"] == DEFAULT_PROMPT_TEMPLATE:  # the default keeps the keys of older transcripts
            settings.pop("prompt_template")
        payload = {
            "version": CACHE_VERSION,
            "data": data_digest(),
            "options": settings,
            "vocabulary": list(self.vocabulary),
            "channels": dict(channels) if channels else None,
            "raw": dataclasses.asdict(raw) if raw else None,
            "hints": dict(hints) if hints else None,
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
        hints: Mapping[str, Any] | None = None,
        legs: Sequence[Path] = (),
    ) -> Transcript:
        """Transcribe one call; reuse ``<cache_dir>/<sha256>-<settings hash>.json`` when present.

        ``hints`` help tell who is who on a mono call: ``operator_name``, ``direction`` (inbound/outbound) and
        ``brands`` (the names the operator's company is spoken as). ``legs``: the files of a call recorded as split
        legs, one channel each in that order (``path`` names the call)."""
        path = Path(path)
        sha = legs_sha256(list(legs)) if legs else file_sha256(path)
        folder = cache_dir or self.cache_dir
        cached = folder / f"{sha}-{self.cache_key(channels, raw, hints)}.json" if folder else None
        if cached is not None and cached.is_file():
            transcript = read_cached(cached)
            if transcript is not None:
                for key, value in self.priming().items():  # files cached before the prompt was echoed
                    transcript.options.setdefault(key, value)
                return transcript
        transcript = self._transcribe_stream(path, raw, sha, channels, hints, legs)
        if cached is not None:
            write_cached(cached, transcript)
        return transcript

    def _transcribe_stream(self, path: Path, raw: RawFormat | None, sha: str, channels: Mapping[str, str] | None,
                           hints: Mapping[str, Any] | None = None, legs: Sequence[Path] = ()) -> Transcript:
        """One file (or a split call's legs, side by side as channels) decoded block by block: whole when no longer
        than a window, else window by window."""
        window_s = window_seconds()
        with LegsStream(list(legs), raw) if legs else AudioStream(path, raw) as stream:
            blocks = stream.blocks()
            first, whole = gather(blocks, window_s)
            if whole:  # a call no longer than a window: decoded whole, as it always was
                return self.transcribe_audio(decoded_from(first, stream), path, sha, channels, hints)
            return self.transcribe_windows(stream, windows(first, blocks, window_s), path, sha, channels, hints)

    def transcribe_audio(
        self,
        audio: DecodedAudio,
        path: Path,
        audio_sha256: str = "",
        channels: Mapping[str, str] | None = None,
        hints: Mapping[str, Any] | None = None,
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
        words = self._window_words(audio, plan, stats, hints or {})
        return self._assemble(words, stats, audio.duration_s, mode, audio_sha256)

    def transcribe_windows(self, stream: BlockSource, parts: Iterator[tuple[int, np.ndarray]], path: Path,
                           audio_sha256: str = "", channels: Mapping[str, str] | None = None,
                           hints: Mapping[str, Any] | None = None) -> Transcript:
        """Transcribe a long call window by window (:mod:`~qa.speech.transcribe.windows`): each window's words and
        voice regions are shifted by its offset, then all are merged as for a whole call. Only one window is held,
        Whisper's batch is capped (:func:`~qa.speech.transcribe.windows.window_batch_size`) and the memory each window
        freed is handed back before the next (:func:`~qa.speech.transcribe.allocator.release_memory`)."""
        token = _IN_WINDOWS.set(True)
        try:
            return self._transcribe_windows(stream, parts, path, audio_sha256, channels, hints)
        finally:
            _IN_WINDOWS.reset(token)

    def _transcribe_windows(self, stream: BlockSource, parts: Iterator[tuple[int, np.ndarray]], path: Path,
                            audio_sha256: str, channels: Mapping[str, str] | None,
                            hints: Mapping[str, Any] | None) -> Transcript:
        """:meth:`transcribe_windows` inside the window setting."""
        stats: dict[str, Any] = {"dropped_hallucinations": 0, "dropped_repetitions": 0, "dropped_no_speech": 0}
        words: list[_RawWord] = []
        attributions: list[tuple[dict[str, Any], int]] = []
        plan: list[tuple[int, str | None]] | None = None
        mode, count, end = "stereo", 0, 0
        for offset, samples in parts:
            audio = DecodedAudio(list(samples), samples.shape[1] / TARGET_RATE, stream.source_rate,
                                 stream.source_channels or samples.shape[0])
            if plan is None:  # the channel plan (and the identical-channels check) of the first window holds
                mode, plan = _channel_plan(audio, channels, path, stats)
            words.extend(self._window_words(audio, plan, stats, hints or {}, offset / TARGET_RATE, attributions))
            count, end = count + 1, offset + samples.shape[1]
            del audio, samples
            release_memory()
        stats["windows"] = count
        if (attribution := _least_sure(attributions)) is not None:
            stats["mono_attribution"] = attribution
        if stream.notes:
            stats["decode_notes"] = list(stream.notes)
        return self._assemble(words, stats, end / TARGET_RATE, mode, audio_sha256)

    def _window_words(self, audio: DecodedAudio, plan: list[tuple[int, str | None]], stats: dict[str, Any],
                      hints: Mapping[str, Any], offset_s: float = 0.0,
                      windowed: list[tuple[dict[str, Any], int]] | None = None) -> list[_RawWord]:
        """The words of every planned channel of ``audio`` with their speakers, and each speaker's voice regions in
        ``stats["voice"]``, all shifted by ``offset_s`` (where this window starts in the call). A mono window's two
        voices are told apart within the window (its attribution and word count go to ``windowed``)."""
        words: list[_RawWord] = []
        narrowband = audio.source_sample_rate <= 8000
        for index, speaker in plan:
            samples = audio.channels[index]
            regions = self.voice_regions(samples, narrowband)
            if _IN_WINDOWS.get():  # what the voice detector freed, handed back before Whisper's batch
                release_memory()
            before = len(stats.get("decoded_again", ()))
            channel_words = self._channel_words(samples, stats, regions)
            for entry in stats.get("decoded_again", [])[before:]:
                entry["speaker"] = speaker or "mono"  # which channel was decoded again
                for part in entry["stretches"] if offset_s else ():
                    part["start"], part["end"] = round(part["start"] + offset_s, 2), round(part["end"] + offset_s, 2)
            if speaker is None:
                window: dict[str, Any] = {}
                self._attribute_mono(samples, regions, channel_words, window, hints)
                for who, spans in window.get("voice", {}).items():
                    stats.setdefault("voice", {}).setdefault(who, []).extend(_later(spans, offset_s))
                if windowed is not None:  # one window of a long call: summed up by the caller
                    if window.get("mono_attribution"):
                        windowed.append((window["mono_attribution"], len(channel_words)))
                elif "mono_attribution" in window:
                    stats["mono_attribution"] = window["mono_attribution"]
            else:
                for w in channel_words:
                    w.speaker = speaker
                stats.setdefault("voice", {}).setdefault(speaker, []).extend(_later(regions, offset_s))
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
    def _channel_words(self, samples: np.ndarray, stats: dict[str, Any],
                       regions: list[list[float]] | None = None) -> list[_RawWord]:
        """Guarded words of one channel, in time order, never going backwards, each in its stretch of voice
        (:func:`~qa.speech.transcribe.merging.snap_to_voice`; a word the other decode heard is kept by the guards)."""
        segments, other = self._run(samples, stats, regions)
        confirm = (lambda w: confirmed(w, other)) if other else None
        words: list[_RawWord] = []
        for w in guarded_words(segments, self.options, self.vocabulary, stats, confirm):
            token = w.word.strip()
            if not normalise_phrase(token):
                continue  # lone punctuation
            words.append(_RawWord(token, float(w.start), float(w.end), float(w.probability)))
        words.sort(key=lambda w: w.start)
        if regions and (moved := snap_to_voice(words, regions)):
            stats["moved_to_voice"] = stats.get("moved_to_voice", 0) + moved
        previous_end = 0.0
        for w in words:
            w.start = max(w.start, previous_end)
            w.end = max(w.end, w.start)
            previous_end = w.end
        return words

    def _attribute_mono(self, samples: np.ndarray, regions: list[list[float]], words: list[_RawWord],
                        stats: dict[str, Any], hints: Mapping[str, Any]) -> None:
        """Set the speaker and its confidence of every mono word: two voices told apart, roles from what each says
        (:func:`qa.speech.diarize.attribute_words`), or ``unknown`` with the reason in ``stats``."""
        from qa.speech.diarize import attribute_words

        if self.options.mono_speakers == "unknown":
            result = None
            stats["mono_attribution"] = {"method": "unknown", "reason": "speaker attribution switched off"}
        else:
            brands = [b for b in hints.get("brands", ()) if isinstance(b, str)]
            result = attribute_words(samples, regions, words, hints, brands)
            stats["mono_attribution"] = result.stats
        for k, w in enumerate(words):
            w.speaker = result.speakers[k] if result else "unknown"
            w.confidence = result.confidences[k] if result else 0.0
        voice = result.voice if result and result.voice else {"unknown": regions}
        stats.setdefault("voice", {}).update(voice)


def _later(spans: list[list[float]], offset_s: float) -> list[list[float]]:
    """Voice regions of a window, in the call's time."""
    return [[round(a + offset_s, 3), round(b + offset_s, 3)] for a, b in spans] if offset_s else list(spans)


def _least_sure(attributions: list[tuple[dict[str, Any], int]]) -> dict[str, Any] | None:
    """A long mono call's ``mono_attribution`` from its windows' ``(attribution, words)``: the least sure window that
    had words (one told by voice gives way to one that was not, a surer one to a less sure one; a window without
    words only while none had any), with ``call_windows``, how many there were."""
    if not attributions:
        return None

    def rank(item: tuple[dict[str, Any], int]) -> tuple[bool, bool, float]:
        a, words = item
        return not words, a.get("method") == "voices", float(a.get("confidence") or 0.0)

    kept, _words = min(attributions, key=rank)
    return {**kept, "call_windows": len(attributions)}


# --- process cache and the bare reference --------------------------------------------------------

_TRANSCRIBERS: dict[tuple[TranscriptionOptions, tuple[str, ...], int], Transcriber] = {}
_TRANSCRIBERS_LOCK = threading.Lock()


def get_transcriber(options: TranscriptionOptions, vocabulary: Sequence[str] = (), replicas: int = 1
                    ) -> Transcriber:
    """The process-wide transcriber for these options and vocabulary, ``replicas`` calls at once (models load once
    per worker and setting, shared by the transcribers of every vocabulary)."""
    key = (options, tuple(vocabulary), max(1, replicas))
    with _TRANSCRIBERS_LOCK:
        transcriber = _TRANSCRIBERS.get(key)
        if transcriber is None:
            transcriber = _TRANSCRIBERS[key] = Transcriber(options, vocabulary, replicas=replicas)
        return transcriber


def transcribe_bare(transcriber: Transcriber, path: Path) -> list[str]:
    """Reference for the benchmarks: faster-whisper's own decoder and ``transcribe`` on each channel with the
    transcriber's settings but no prompt (VAD on, same beam), without our decoding, guards, second decodes or
    merging; one text per channel (one for a mono file)."""
    from faster_whisper import decode_audio as whisper_decode

    loaded = transcriber._model()
    kwargs = {k: v for k, v in transcriber.whisper_kwargs().items() if k not in PRIMING}
    with AudioStream(path) as stream:  # the header's channel count: nothing decoded
        stereo = stream.source_channels == 2
    channels = whisper_decode(str(path), split_stereo=True) if stereo else (whisper_decode(str(path)),)
    texts = []
    for samples in channels:
        with loaded.replica() as replica:
            engine = replica.batched if "batch_size" in kwargs else replica.model
            segments, _ = engine.transcribe(samples, **kwargs)
            texts.append(" ".join(s.text.strip() for s in segments))
    return texts
