"""How calls are transcribed: :class:`TranscriptionOptions` and the device checks.

The options are stored with every run so that a result can be reproduced. Whether a CUDA GPU is there is asked of
CTranslate2, imported lazily (only when a device must be resolved or checked).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any


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


def check_prompt_template(template: str) -> str:
    """``template`` itself; ValueError unless it holds ``{terms}`` once and no other braces."""
    rest = template.replace("{terms}", "", 1)
    if "{terms}" not in template or "{" in rest or "}" in rest:
        raise ValueError(f"must hold {{terms}} once and no other braces, not {template!r}")
    return template


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


DEFAULT_PROMPT_TEMPLATE = "{terms}"
# Whisper's batch on a CPU. A mono 8 kHz call of 163 s (bench_asr's mixdown) peaked at 1.2 GiB with a batch of 8,
# 0.85 GiB with 4 and 0.69 GiB with 2, with the same words; on one CTranslate2 thread (a night's calls, one per
# core) batch 2 was 13-15% faster than 8, on two threads level with it (README, «Benchmarks»).
CPU_BATCH = 2


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
      second_beam_size: beam width of the decode without the prompt that checks a primed decode whose only doubt is
        unsure words (:mod:`~qa.speech.transcribe.redecode`: its words are candidates for single spans); a loop, an
        echo of the prompt or voice left uncovered are decoded again with ``beam_size``, as bare faster-whisper
        decodes. ``0`` (the default): ``beam_size``. A beam of 2 kept every check of the tune half (noisy, GSM) for
        about 3/4 of the CPU, but on the holdout noisy stereo its WER (0.189) was worse than bare faster-whisper's
        (0.185), so it is not the default; 1 lost two tune checks (its surest words were wrong ones).
      language: the spoken language; fixed so that no language detection runs.
      vad_filter: cut non-speech with Silero VAD before decoding (needed against inventions).
      vad_threshold: Silero speech probability above which a frame is speech.
      vad_min_silence_ms: silence that ends a speech chunk.
      vad_speech_pad_ms: padding added around each speech chunk.
      batch_size: chunks decoded together by faster-whisper's batched pipeline; 0 decodes chunk
        by chunk (sequential pipeline); ``None`` picks :data:`CPU_BATCH` on CPU and 16 on CUDA. The batch changes
        no word or probability (each chunk is decoded alone), only memory, speed and a few word times (≤ 0.04 s).
      cpu_threads: CTranslate2 threads; 0 uses every core this process may run on.
      condition_on_previous_text: feed the previous window's text as a prompt (sequential pipeline
        only); off by default because it lets one mistake turn into a repetition loop.
      use_vocabulary: how rule-set terms (company and product names) reach the model:
        ``"prompt"`` (initial prompt), ``"hotwords"`` or ``"none"``.
      prompt_template: the text handed to Whisper as the prompt or hotwords, ``{terms}`` standing for the terms
        joined by commas (the default is the terms alone); a short natural sentence around them, measured in
        ``docs/accuracy.md``, is set here (``QA_PROMPT_TEMPLATE``).
      pause_split_s: a pause longer than this inside one speaker's speech starts a new utterance.
      no_speech_threshold: with ``log_prob_threshold``, drop a segment whose no-speech probability
        is above this while its average log-probability is below that.
      log_prob_threshold: see ``no_speech_threshold``.
      compression_ratio_threshold: drop a segment whose text compresses better than this
        (a repetition loop) after its repeated n-grams were collapsed.
      mono_speakers: speaker attribution on one-channel audio: ``"voices"`` (default: two voices told apart by a
        speaker encoder, roles from what each says; see :mod:`qa.speech.diarize`) or ``"unknown"`` (every word
        ``unknown``). The pitch attribution of earlier versions is gone: it put the operator's words on the client.
    """

    model: str = "base"
    device: str = "auto"
    compute_type: str = "auto"
    beam_size: int = 5
    second_beam_size: int = 0
    language: str = "ru"
    vad_filter: bool = True
    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 500
    vad_speech_pad_ms: int = 200
    batch_size: int | None = None
    cpu_threads: int = 0
    condition_on_previous_text: bool = False
    use_vocabulary: str = "prompt"
    prompt_template: str = DEFAULT_PROMPT_TEMPLATE
    pause_split_s: float = 1.0
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    mono_speakers: str = "voices"

    def __post_init__(self) -> None:
        if self.use_vocabulary not in ("prompt", "hotwords", "none"):
            raise ValueError(f"use_vocabulary must be prompt, hotwords or none, not {self.use_vocabulary!r}")
        try:
            check_prompt_template(self.prompt_template)
        except ValueError as exc:
            raise ValueError(f"prompt_template {exc}") from None
        if self.mono_speakers not in ("voices", "unknown"):
            why = " (pitch attribution was removed: it gave the operator's words to the client)" \
                if self.mono_speakers == "pitch" else ""
            raise ValueError(f"mono_speakers must be voices or unknown, not {self.mono_speakers!r}{why}")

    def as_dict(self) -> dict[str, Any]:
        """The options as plain JSON-able values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_env(cls, **overrides: Any) -> TranscriptionOptions:
        """Options from ``QA_WHISPER_MODEL``, ``QA_DEVICE``, ``QA_COMPUTE_TYPE``, ``QA_BEAM_SIZE``,
        ``QA_SECOND_BEAM_SIZE``, ``QA_BATCH_SIZE`` (a number or ``auto``), ``QA_CPU_THREADS``, ``QA_MONO_SPEAKERS``
        and ``QA_PROMPT_TEMPLATE``; non-None overrides win."""
        values: dict[str, Any] = {}
        env = os.environ
        for name, key, kind in (
            ("QA_WHISPER_MODEL", "model", str),
            ("QA_DEVICE", "device", str),
            ("QA_COMPUTE_TYPE", "compute_type", str),
            ("QA_BEAM_SIZE", "beam_size", int),
            ("QA_SECOND_BEAM_SIZE", "second_beam_size", int),
            ("QA_BATCH_SIZE", "batch_size", int),
            ("QA_CPU_THREADS", "cpu_threads", int),
            ("QA_MONO_SPEAKERS", "mono_speakers", str),
            ("QA_PROMPT_TEMPLATE", "prompt_template", str),
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
            if key == "prompt_template":
                try:
                    check_prompt_template(raw)
                except ValueError as exc:
                    raise ValueError(f"{name} {exc}") from None
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
            return 16 if device == "cuda" else CPU_BATCH
        return max(0, self.batch_size)

    def resolved_threads(self) -> int:
        """CTranslate2 CPU threads."""
        return self.cpu_threads or _default_threads()
