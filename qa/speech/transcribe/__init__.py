"""Transcription of calls with faster-whisper (the only user of faster_whisper and ctranslate2).

A stereo call is transcribed channel by channel (operator and client apart, VAD on), then the words
of both channels are merged into turns by their own timestamps, so overtalk stays visible as
overlapping utterances. A mono call's words get their speakers from two voices told apart
(:mod:`qa.speech.diarize`). Known Whisper inventions on silence (subtitle credits, repetition loops,
segments the model itself marks as non-speech) are removed and counted in ``Transcript.stats``.
Each speaker channel's Silero voice regions go to ``Transcript.stats["voice"]`` for the timing metrics
(:mod:`qa.rules.metrics`): talk time, silences and reply latency follow the voice, not the word timestamps.
Models are loaded once per process and shared (a replica per call transcribed at once); transcripts can be cached
by audio content hash.

The modules, each importing only those listed before it:

- :mod:`~qa.speech.transcribe.options`: :class:`TranscriptionOptions` and the device checks;
- :mod:`~qa.speech.transcribe.transcript`: the :class:`Transcript` record and its cache format;
- :mod:`~qa.speech.transcribe.merging`: words into speaker turns by their timestamps;
- :mod:`~qa.speech.transcribe.channels`: which channel is which speaker;
- :mod:`~qa.speech.transcribe.allocator`: glibc's allocator thresholds for a process that transcribes;
- :mod:`~qa.speech.transcribe.concurrency`: how many calls one process transcribes at once, with how many threads;
- :mod:`~qa.speech.transcribe.models`: the Whisper model cache (one load per process, a replica per transcription);
- :mod:`~qa.speech.transcribe.guards`: guards against inventions and lost speech;
- :mod:`~qa.speech.transcribe.vad`: Silero voice regions and the speech clips to decode again;
- :mod:`~qa.speech.transcribe.redecode`: doubts about a primed decode, and the choice between it and a plain one;
- :mod:`~qa.speech.transcribe.transcriber`: :class:`Transcriber`, which decodes and puts it all together.
"""

from __future__ import annotations

from qa.speech.transcribe.channels import DEFAULT_STEREO
from qa.speech.transcribe.guards import (
    HallucinationList,
    collapse_repetitions,
    compression_ratio,
    hallucination_list,
    normalise_phrase,
    uncovered_loud_regions,
)
from qa.speech.transcribe.merging import _RawWord, merge_words, snap_to_voice
from qa.speech.transcribe.models import load_model, loaded_models
from qa.speech.transcribe.options import (
    DEFAULT_PROMPT_TEMPLATE,
    DEVICES,
    TranscriptionOptions,
    check_device,
    cuda_available,
)
from qa.speech.transcribe.transcriber import Transcriber, get_transcriber, transcribe_bare
from qa.speech.transcribe.transcript import CACHE_VERSION, Transcript, transcript_from_dict, transcript_to_dict

__all__ = [
    "CACHE_VERSION",
    "DEFAULT_PROMPT_TEMPLATE",
    "DEFAULT_STEREO",
    "DEVICES",
    "HallucinationList",
    "Transcriber",
    "Transcript",
    "TranscriptionOptions",
    "_RawWord",
    "check_device",
    "collapse_repetitions",
    "compression_ratio",
    "cuda_available",
    "get_transcriber",
    "hallucination_list",
    "load_model",
    "loaded_models",
    "merge_words",
    "normalise_phrase",
    "snap_to_voice",
    "transcribe_bare",
    "transcript_from_dict",
    "transcript_to_dict",
    "uncovered_loud_regions",
]
