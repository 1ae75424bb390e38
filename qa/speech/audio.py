"""Decoding of call recordings to 16 kHz float32, one array per source channel (the only user of PyAV).

Containers (WAV, FLAC, OGG/Opus, MP3, M4A/AAC, WebM, WMA, AMR…) are read from their header.
Headerless telephony files (raw A-law, µ-law or 16-bit PCM) carry no sample rate, so their format
must be declared with a :class:`RawFormat`. Every failure is an :class:`~qa.errors.AudioError`
naming the file and the problem, never a bare PyAV exception.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from qa.errors import AudioError

TARGET_RATE = 16000
RawCodec = Literal["alaw", "mulaw", "s16le"]

RAW_SUFFIXES: frozenset[str] = frozenset({".al", ".alaw", ".ul", ".mulaw", ".ulaw", ".s16", ".raw", ".pcm"})
CONTAINER_SUFFIXES: frozenset[str] = frozenset(
    {
        ".wav",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".m4a",
        ".aac",
        ".webm",
        ".mka",
        ".wma",
        ".amr",
        ".aif",
        ".aiff",
        ".au",
    }
)
AUDIO_SUFFIXES: frozenset[str] = CONTAINER_SUFFIXES | RAW_SUFFIXES
_RAW_DEMUXERS = {"alaw": "alaw", "mulaw": "mulaw", "s16le": "s16le"}
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class RawFormat:
    """The declared format of a headerless file: codec, sample rate and channel count."""

    codec: RawCodec
    sample_rate: int
    channels: int = 1

    def __post_init__(self) -> None:
        if self.codec not in _RAW_DEMUXERS:
            raise ValueError(f"raw codec must be one of {sorted(_RAW_DEMUXERS)}, not {self.codec!r}")
        if self.sample_rate <= 0 or self.channels <= 0:
            raise ValueError("raw sample_rate and channels must be positive")


@dataclass
class DecodedAudio:
    """Decoded audio: float32 mono arrays at 16 kHz, one per source channel, in source order."""

    channels: list[np.ndarray]
    duration_s: float
    source_sample_rate: int
    source_channels: int
    sample_rate: int = TARGET_RATE
    notes: list[str] = field(default_factory=list)  # e.g. damaged packets skipped
    start_s: float = 0.0  # where the arrays start in the file (a part decoded by :func:`decode_span`)


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes (the content key of a call)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise AudioError(path, f"cannot be read: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def _open_container(path: Path, raw: RawFormat | None):  # -> av.container.InputContainer
    import av

    suffix = path.suffix.lower()
    headerless = suffix in RAW_SUFFIXES or (raw is not None and suffix not in CONTAINER_SUFFIXES)
    try:
        if not headerless:
            return av.open(str(path), mode="r")
        if raw is None:
            raise AudioError(
                path,
                f"headerless audio ({suffix}) has no sample rate or codec in the file; a format must be "
                "declared (codec alaw/mulaw/s16le, sample rate, channels), e.g. RawFormat('alaw', 8000)",
            )
        layout = {1: "mono", 2: "stereo"}.get(raw.channels, f"{raw.channels}c")
        options = {"sample_rate": str(raw.sample_rate), "ch_layout": layout}
        return av.open(str(path), mode="r", format=_RAW_DEMUXERS[raw.codec], options=options)
    except av.error.FFmpegError as exc:
        raise AudioError(path, f"cannot be opened as audio: {exc.strerror or exc}") from exc


def _constant_bit_rate(container, stream, path: Path) -> int:  # av containers and streams
    """The bit rate of an MP3 stream whose size says it is constant (bytes ≈ bit rate × duration), else 0."""
    rate = int(stream.codec_context.bit_rate or 0)
    if not stream.codec_context.name.startswith("mp3") or rate <= 0 or not container.duration:
        return 0
    seconds = container.duration / 1_000_000
    return rate if seconds > 0 and abs(path.stat().st_size * 8 / rate - seconds) <= 0.03 * seconds + 0.5 else 0


class _Samples:
    """Decoded samples ``(channels, n)`` written into one array sized from the container's duration (grown by half
    when that was short), so a long call is held once, not once in pieces and again joined."""

    def __init__(self, expected: int) -> None:
        self.expected = max(expected + expected // 50, TARGET_RATE)
        self.buffer: np.ndarray | None = None
        self.length = 0

    @property
    def seconds(self) -> float:
        return self.length / TARGET_RATE

    def _room(self, channels: int, n: int) -> np.ndarray:
        if self.buffer is None:
            self.buffer = np.zeros((channels, max(self.expected, n)), dtype=np.float32)
        elif self.length + n > self.buffer.shape[1]:
            grown = np.zeros((self.buffer.shape[0], max(self.length + n, self.buffer.shape[1] * 3 // 2)),
                             dtype=np.float32)
            grown[:, :self.length] = self.buffer[:, :self.length]
            self.buffer = grown
        return self.buffer

    def append(self, piece: np.ndarray) -> None:
        buffer = self._room(piece.shape[0], piece.shape[1])
        buffer[:, self.length:self.length + piece.shape[1]] = piece
        self.length += piece.shape[1]

    def silence(self, seconds: float, channels: int = 0) -> None:
        n = round(seconds * TARGET_RATE)
        if self.buffer is None and not channels:
            return
        self._room(self.buffer.shape[0] if self.buffer is not None else channels, n)
        self.length += n  # the buffer is zeros there already

    def samples(self) -> np.ndarray:
        return self.buffer[:, :self.length] if self.buffer is not None else np.zeros((0, 0), dtype=np.float32)


def _packet_seconds(packet) -> float:  # packet: av.Packet
    """How long a packet plays (0 when the container does not say)."""
    try:
        return float(packet.duration * packet.time_base) if packet.duration and packet.time_base else 0.0
    except (TypeError, ValueError):
        return 0.0


# Containers whose header states the exact length (sample count, data size or an index): a decode that ends well
# before it is a truncated file (one still being copied, or cut short). MP3/OGG lengths are estimates: not checked.
_EXACT_LENGTH_FORMATS = frozenset({"wav", "w64", "flac", "aiff", "mov,mp4,m4a,3gp,3g2,mj2", "caf"})
TRUNCATED_MIN_S = 1.0  # a shortfall past this (and past 1 % of the length) fails the file as truncated
TRUNCATED_SHARE = 0.01
_SHORTFALL_NOTE_S = 0.1  # a smaller shortfall is decoded as a partial call, with a note


def wav_declared_seconds(path: Path) -> float | None:
    """The length a WAV header states (its ``data`` chunk size over the byte rate of ``fmt ``), or None when the
    header does not state one (a size of 0 or a streaming placeholder) or is not a plain RIFF/RF64 WAV."""
    import struct

    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            byte_rate = None
            while True:
                chunk = handle.read(8)
                if len(chunk) < 8:
                    return None
                name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if name == b"fmt ":
                    fmt = handle.read(size + size % 2)
                    byte_rate = struct.unpack("<I", fmt[8:12])[0] if len(fmt) >= 12 else None
                elif name == b"data":
                    if not byte_rate or size == 0 or size >= 0x7FFF0000:  # unknown length (a live recording)
                        return None
                    return size / byte_rate
                else:
                    handle.seek(size + size % 2, 1)
    except OSError:
        return None


class AudioStream:
    """An audio file decoded block by block to 16 kHz float32, the source channels apart: :meth:`blocks` yields
    arrays of shape (channels, samples), so a caller can work through a long call without holding all of it.

    Damaged packets are skipped and noted (:attr:`notes`); a file that yields nothing, or ends well before the
    length its header states (a truncated file), raises :class:`AudioError` when the blocks run out. Use it as a
    context manager (the file is closed on leaving).
    """

    def __init__(self, path: Path, raw: RawFormat | None = None) -> None:
        path = Path(path)
        self.path = path
        if not path.is_file():
            raise AudioError(path, "file not found")
        if path.stat().st_size == 0:
            raise AudioError(path, "empty file (0 bytes): no audio samples")
        self.container = _open_container(path, raw)
        self.notes: list[str] = []
        self.samples = 0  # decoded so far, at 16 kHz
        if not self.container.streams.audio:
            self.container.close()
            raise AudioError(path, "no audio stream in the file")
        self.stream = self.container.streams.audio[0]
        self.source_rate = int(self.stream.codec_context.sample_rate or self.stream.rate or 0)
        self.source_channels = int(self.stream.codec_context.channels or 0)
        self.declared_s = self._declared_length()

    def _declared_length(self) -> float | None:
        """The length the header states, where the format states it exactly (else None)."""
        if self.container.format.name not in _EXACT_LENGTH_FORMATS:
            return None
        if self.container.format.name == "wav":  # FFmpeg trusts the file size over a PCM header's data size
            return wav_declared_seconds(self.path)
        if self.stream.duration and self.stream.time_base:
            return float(self.stream.duration * self.stream.time_base)
        return self.container.duration / 1_000_000 if self.container.duration else None

    def __enter__(self) -> AudioStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.container.close()

    def blocks(self) -> Iterator[np.ndarray]:
        """The decoded audio, block by block: float32 arrays of shape (channels, samples) at 16 kHz. A damaged packet,
        or bytes of a constant-bit-rate MP3 the demuxer skipped while resyncing, become silence of the same length,
        so later words keep their times."""
        import av

        path = self.path
        resampler = None
        damaged = 0
        damaged_at: list[float] = []
        cbr = _constant_bit_rate(self.container, self.stream, path)
        first_pos: int | None = None
        lost_s = 0.0
        try:
            for packet in self.container.demux(self.stream):
                if cbr and packet.pos is not None and packet.pos >= 0:
                    first_pos = packet.pos if first_pos is None else first_pos
                    behind = (packet.pos - first_pos) * 8 / cbr - self.samples / TARGET_RATE
                    if behind > 0.15 and self.samples:
                        lost_s += behind
                        damaged_at.append(self.samples / TARGET_RATE)
                        yield self._counted(self._silence(behind))
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    if packet.size <= 1:
                        continue  # a WAV chunk's pad byte (GSM 06.10 files of an odd size), not damage
                    damaged += 1
                    damaged_at.append(self.samples / TARGET_RATE)
                    gap = _packet_seconds(packet)
                    if gap and (self.source_channels or self.samples):
                        yield self._counted(self._silence(gap))
                    continue
                for frame in frames:
                    if resampler is None:
                        self.source_channels = self.source_channels or len(frame.layout.channels)
                        self.source_rate = self.source_rate or frame.sample_rate
                        resampler = av.AudioResampler(format="fltp", layout=frame.layout, rate=TARGET_RATE)
                    for out in resampler.resample(frame):
                        yield self._counted(out.to_ndarray())
            if resampler is not None:
                for out in resampler.resample(None):
                    yield self._counted(out.to_ndarray())
        except av.error.FFmpegError as exc:
            if not self.samples:
                raise AudioError(path, f"cannot be decoded: {exc.strerror or exc}") from exc
            self.notes.append(f"decoding stopped early: {exc.strerror or exc}")
        except ValueError as exc:  # e.g. the channel layout changes mid-stream
            raise AudioError(path, f"cannot be decoded: {exc}") from exc
        if damaged or lost_s:
            where = ", ".join(f"{t:.1f} s" for t in sorted(set(round(t, 1) for t in damaged_at))[:5])
            lost = f", {lost_s:.1f} s of unreadable stream" if lost_s else ""
            self.notes.append(f"{damaged} damaged packet(s) skipped{lost} (at {where}; silence in their place, "
                              "the rest kept)")
        if not self.samples:
            raise AudioError(path, "no audio samples" + (" (every packet was damaged)" if damaged else ""))
        self._check_length()

    def _silence(self, seconds: float) -> np.ndarray:
        return np.zeros((max(1, self.source_channels), round(seconds * TARGET_RATE)), dtype=np.float32)

    def _counted(self, block: np.ndarray) -> np.ndarray:
        self.samples += block.shape[1]
        return block

    def _check_length(self) -> None:
        """A truncated file is an :class:`AudioError`; a small shortfall (damaged frames skipped) a note."""
        if self.declared_s is None:
            return
        decoded = self.samples / TARGET_RATE
        missing = self.declared_s - decoded
        if missing > max(TRUNCATED_MIN_S, TRUNCATED_SHARE * self.declared_s):
            raise AudioError(self.path, f"truncated: the header says {self.declared_s:.1f} s but only {decoded:.1f} s "
                                        "could be decoded (a file still being copied, or cut short)")
        if missing > _SHORTFALL_NOTE_S:
            self.notes.append(f"{missing:.1f} s of the {self.declared_s:.1f} s the header states could not be "
                              "decoded (damaged frames skipped)")


def decode_audio(path: Path, raw: RawFormat | None = None) -> DecodedAudio:
    """Decode ``path`` to 16 kHz float32, keeping the source channels apart (the whole file in memory: a long
    call is better read block by block with :class:`AudioStream`).

    ``raw`` declares the format of a headerless file (``.al``, ``.ul``, ``.s16``, ``.raw``, ``.pcm``);
    it is ignored for files with a container header. Damaged packets are skipped and noted; a file
    that yields no samples at all, or is truncated, raises :class:`AudioError`.
    """
    with AudioStream(path, raw) as stream:
        duration = stream.container.duration
        out = _Samples(int(duration / 1_000_000 * TARGET_RATE) if duration else 0)
        for block in stream.blocks():
            out.append(block)
    samples = out.samples()
    channels = [np.ascontiguousarray(row, dtype=np.float32) for row in samples]
    return DecodedAudio(channels=channels, duration_s=samples.shape[1] / TARGET_RATE,
                        source_sample_rate=stream.source_rate, source_channels=stream.source_channels or len(channels),
                        notes=list(stream.notes))


def decode_span(path: Path, start_s: float, end_s: float, raw: RawFormat | None = None) -> DecodedAudio:
    """The part of ``path`` from ``start_s`` to ``end_s`` (seconds), decoded block by block and the rest let go,
    so a clip of a three-hour call costs memory for the clip only. ``duration_s`` is the part's length."""
    rate = TARGET_RATE
    first, last = int(start_s * rate), int(end_s * rate)
    kept: list[np.ndarray] = []
    with AudioStream(path, raw) as stream:
        position = 0
        for block in stream.blocks():
            size = block.shape[1]
            if position + size > first:
                kept.append(block[:, max(0, first - position):max(0, last - position)])
            position += size
            if position >= last:
                break
    samples = np.concatenate(kept, axis=1) if kept else np.zeros((max(1, stream.source_channels), 0), np.float32)
    return DecodedAudio(channels=[np.ascontiguousarray(row) for row in samples], duration_s=samples.shape[1] / rate,
                        source_sample_rate=stream.source_rate, source_channels=stream.source_channels or len(samples),
                        notes=list(stream.notes), start_s=first / rate)


class BlockSource(Protocol):
    """What a transcription reads a call from: an :class:`AudioStream`, or a split call's legs
    (:class:`qa.speech.legs.LegsStream`)."""

    path: Path
    source_rate: int
    source_channels: int
    notes: list[str]

    def blocks(self) -> Iterator[np.ndarray]: ...


def decoded_from(pieces: list[np.ndarray], stream: BlockSource) -> DecodedAudio:
    """The :class:`DecodedAudio` of blocks read from ``stream`` (one array per channel)."""
    samples = np.concatenate(pieces, axis=1)
    del pieces[:]  # the blocks are copied into one array: let them go
    channels = [np.ascontiguousarray(row, dtype=np.float32) for row in samples]
    return DecodedAudio(
        channels=channels,
        duration_s=samples.shape[1] / TARGET_RATE,
        source_sample_rate=stream.source_rate,
        source_channels=stream.source_channels or len(channels),
        notes=list(stream.notes),
    )


# format -> (container, codec, codec sample rate (None: keep), bit rate per second (None: codec default))
CLIP_FORMATS = {
    "ogg": ("ogg", "libopus", 48000, 32000),
    "mp3": ("mp3", "libmp3lame", 44100, 64000),
    "wav": ("wav", "pcm_s16le", None, None),
    # what a PBX writes: 8 kHz WAV, A-law (Asterisk's `wav` is 16-bit PCM; `alaw` recordings A-law)
    "wav-8k": ("wav", "pcm_s16le", 8000, None),
    "wav-alaw": ("wav", "pcm_alaw", 8000, None),
}


def encode_audio(channels: list[np.ndarray], rate: int, fmt: str = "ogg") -> bytes:
    """Encode float32 channels (-1..1, all of one length) at ``rate`` Hz as OGG Opus, MP3 or WAV bytes."""
    import io

    import av

    if fmt not in CLIP_FORMATS:
        raise ValueError(f"format must be one of {', '.join(CLIP_FORMATS)}, not {fmt!r}")
    container_format, codec, codec_rate, bit_rate = CLIP_FORMATS[fmt]
    samples = np.clip(np.stack([np.asarray(c, dtype=np.float32) for c in channels]), -1.0, 1.0)
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as out:
        stream = out.add_stream(codec, rate=codec_rate or rate, layout=layout)
        if bit_rate:
            stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=layout)
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout,
                                      rate=stream.codec_context.sample_rate,
                                      frame_size=stream.codec_context.frame_size or None)
        for piece in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(piece):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def cut_clip(audio: DecodedAudio, start_s: float, end_s: float, mute: list[tuple[float, float]] = (),
             beep_hz: float | None = 1000.0) -> list[np.ndarray]:
    """The channels between ``start_s`` and ``end_s``; each ``mute`` span (absolute seconds) is replaced by a
    quiet beep (or silence when ``beep_hz`` is None) on every channel, so redacted words cannot be heard."""
    rate = audio.sample_rate
    origin = int(audio.start_s * rate)  # a part of the file (decode_span) starts there
    a, b = max(0, int(start_s * rate) - origin), min(int(end_s * rate) - origin, len(audio.channels[0]))
    out = [c[a:b].copy() for c in audio.channels]
    for m_start, m_end in mute:
        i, j = max(0, int(m_start * rate) - origin - a), min(b - a, int(m_end * rate) - origin - a)
        if j <= i:
            continue
        if beep_hz is None:
            fill = np.zeros(j - i, dtype=np.float32)
        else:
            t = np.arange(j - i, dtype=np.float32) / rate
            fill = (0.2 * np.sin(2 * np.pi * beep_hz * t)).astype(np.float32)
        for channel in out:
            channel[i:j] = fill
    return out
