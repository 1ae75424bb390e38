"""One channel's decode by faster-whisper: the batched pipeline on a model replica of its own, speech it lost decoded
again (:func:`~qa.speech.transcribe.vad.missed_speech_clips`), and a primed decode in doubt decoded again without the
prompt, the better one kept stretch by stretch (:mod:`~qa.speech.transcribe.redecode`).

Both decodes of a channel run on one replica and cut the channel into the same chunks, so the second one reuses the
first one's encoder outputs (:meth:`~qa.speech.transcribe.models.Replica.reusing_encoder`) and costs only Whisper's
decoder. A long channel is decoded block by block (:func:`~qa.speech.transcribe.vad.block_bounds`), so that memory
stays bounded.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from qa.speech.audio import TARGET_RATE
from qa.speech.transcribe.guards import _may_hold_speech
from qa.speech.transcribe.models import LoadedModel, Replica
from qa.speech.transcribe.options import TranscriptionOptions
from qa.speech.transcribe.redecode import PromptTerms, combine, doubts, unsure_words
from qa.speech.transcribe.vad import block_bounds, missed_speech_clips, voice_regions

_RATE = TARGET_RATE  # decoded channels are 16 kHz
PRIMING = ("initial_prompt", "hotwords")


@dataclasses.dataclass(frozen=True)
class ChannelDecode:
    """What a channel's decode needs besides its audio: the model, faster-whisper's keyword arguments, the options
    (for the retry's VAD) and the prompt's terms (for the doubts)."""

    loaded: LoadedModel
    kwargs: dict[str, Any]
    options: TranscriptionOptions
    prompt: PromptTerms


def decode_on(replica: Replica, samples: np.ndarray, kwargs: dict[str, Any], options: TranscriptionOptions,
              stats: dict[str, Any] | None) -> list[Any]:
    """One decode of a 16 kHz channel with these keyword arguments on this replica (speech the batched pipeline lost
    is decoded again on its own)."""
    if "batch_size" not in kwargs:
        segments, _info = replica.model.transcribe(samples, **kwargs)
        return list(segments)
    segments = list(replica.batched.transcribe(samples, **kwargs)[0])
    # The batched pipeline decodes each ≤30 s chunk in one pass, and Whisper sometimes ends a
    # chunk early, silently losing speech. Loud stretches that no word covers are checked with
    # VAD and, where they hold speech, decoded again on their own.
    clips = missed_speech_clips(samples, segments, options)
    if clips:
        retry = {k: v for k, v in kwargs.items() if k not in ("vad_filter", "vad_parameters")}
        extra = list(replica.batched.transcribe(samples, clip_timestamps=clips, vad_filter=False, **retry)[0])
        if stats is not None:
            stats["recovered_segments"] = stats.get("recovered_segments", 0) + len(extra)
        segments = sorted([*segments, *extra], key=lambda seg: seg.start)
    return segments


def decode_channel(job: ChannelDecode, samples: np.ndarray, stats: dict[str, Any] | None,
                   regions: list[list[float]] | None) -> tuple[list[Any], list[Any]]:
    """The kept segments of one channel and the words of the other decode (empty when there was one decode); a long
    channel block by block. ``stats["decoded_again"]`` says what was decoded again, why, and what was kept."""
    if not _may_hold_speech(samples):
        return [], []
    bounds = block_bounds(samples)
    if len(bounds) == 1:
        return decode_block(job, samples, stats, regions)
    if regions is None:
        regions = voice_regions(samples)
    kept: list[Any] = []
    other: list[Any] = []
    for a, b in bounds:
        offset, end = a / _RATE, b / _RATE
        inside = [[max(s, offset) - offset, min(e, end) - offset] for s, e in regions if s < end and e > offset]
        before = len((stats or {}).get("decoded_again", ()))
        block_kept, block_other = decode_block(job, samples[a:b], stats, inside)
        for entry in (stats or {}).get("decoded_again", [])[before:]:  # at call time, not block time
            for part in entry["stretches"]:
                part["start"], part["end"] = round(part["start"] + offset, 2), round(part["end"] + offset, 2)
        kept += [shifted(seg, offset) for seg in block_kept]
        other += [dataclasses.replace(w, start=w.start + offset, end=w.end + offset) for w in block_other]
    if stats is not None:
        stats["blocks"] = len(bounds)
    return kept, other


def decode_block(job: ChannelDecode, samples: np.ndarray, stats: dict[str, Any] | None,
                 regions: list[list[float]] | None) -> tuple[list[Any], list[Any]]:
    """:func:`decode_channel` on one block: the primed decode, and where it is in doubt the plain one (reusing the
    encoder), combined."""
    if not _may_hold_speech(samples):
        return [], []
    kwargs = job.kwargs
    if not any(kwargs.get(k) for k in PRIMING):  # no prompt: one decode, nothing to keep for a second
        with job.loaded.replica() as replica:
            return decode_on(replica, samples, kwargs, job.options, stats), []
    with job.loaded.replica() as replica, replica.reusing_encoder():
        primed = decode_on(replica, samples, kwargs, job.options, stats)
        if regions is None:
            regions = voice_regions(samples)
        unsure = unsure_words(primed, job.prompt)
        why = doubts(primed, regions, job.prompt) or ["unsure_words"] * bool(unsure)
        if not why:
            return primed, []
        plain = decode_on(replica, samples, plain_kwargs(kwargs, job.options, why), job.options, stats)
    segments, stretches = combine(primed, plain, regions, why, job.prompt)
    if stats is not None:
        stats.setdefault("decoded_again", []).append({"why": why, "stretches": stretches, "kept_plain": sum(
            1 for x in stretches if x["kept"] == "plain"), "unsure_words": unsure, "words": sum(
            len(seg.words or []) for seg in primed)})
    kept_ids = {id(w) for seg in segments for w in (seg.words or [])}
    return segments, [w for seg in (*primed, *plain) for w in (seg.words or []) if id(w) not in kept_ids]


def plain_kwargs(kwargs: dict[str, Any], options: TranscriptionOptions, why: list[str]) -> dict[str, Any]:
    """The keyword arguments of the decode without the prompt: no priming; where only unsure words called for it (its
    words are candidates for single spans, not a stretch's replacement), the options' ``second_beam_size``."""
    plain = {k: v for k, v in kwargs.items() if k not in PRIMING}
    if options.second_beam_size and set(why) == {"unsure_words"}:
        plain["beam_size"] = options.second_beam_size
    return plain


def shifted(segment: Any, offset: float) -> Any:
    """A faster-whisper segment (and its words) moved ``offset`` seconds later."""
    words = [dataclasses.replace(w, start=w.start + offset, end=w.end + offset) for w in segment.words or []]
    return dataclasses.replace(segment, start=segment.start + offset, end=segment.end + offset,
                               words=words or segment.words)
