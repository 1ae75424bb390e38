"""Serving call recordings to the browser's player: the formats it plays as stored, WAV decoded from those it
cannot (cached per file version), and single byte ranges so the player can seek."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi.responses import Response

# Formats Chromium plays from the stored file as is (with Range requests, so seeking works).
PLAYABLE = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg",
            ".opus": "audio/ogg", ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".webm": "audio/webm"}


@lru_cache(maxsize=4)
def _decoded_wav(path: str, _mtime_ns: int, _size: int) -> bytes:
    """A file Chromium cannot play (e.g. headerless A-law), decoded and encoded as WAV (cached per version)."""
    from qa.inbox.inputs import read_sidecar
    from qa.speech.audio import RawFormat, decode_audio, encode_audio

    source = Path(path)
    sidecar = source.with_suffix(".json")
    raw = read_sidecar(source, sidecar if sidecar.is_file() else None).raw_format
    audio = decode_audio(source, RawFormat(**raw) if raw else None)
    return encode_audio(audio.channels[:2], audio.sample_rate, "wav")


@lru_cache(maxsize=4)
def _decoded_legs_wav(paths: tuple[str, ...], _versions: tuple[tuple[int, int], ...]) -> bytes:
    """A call recorded as split legs, played as one stereo WAV (a leg per channel; cached per file versions)."""
    from qa.speech.audio import decode_legs, encode_audio

    audio = decode_legs([Path(p) for p in paths])
    return encode_audio(audio.channels[:2], audio.sample_rate, "wav")


def legs_wav(paths: list[Path]) -> bytes:
    """:func:`_decoded_legs_wav` of these files as they are now."""
    stats = [p.stat() for p in paths]
    return _decoded_legs_wav(tuple(str(p.resolve()) for p in paths), tuple((s.st_mtime_ns, s.st_size) for s in stats))


def _ranged(data: bytes, range_header: str | None, media_type: str) -> Response:
    """``data`` whole, or the single byte range asked for (206), so the player can seek."""
    size = len(data)
    headers = {"Accept-Ranges": "bytes"}
    if not range_header:
        return Response(data, media_type=media_type, headers=headers)
    unit, _, spec = range_header.partition("=")
    first, _, last = spec.split(",")[0].strip().partition("-")
    try:
        if unit.strip() != "bytes" or not (first or last):
            raise ValueError
        start, end = (size - int(last), size - 1) if not first else (int(first), int(last) if last else size - 1)
        start, end = max(start, 0), min(end, size - 1)
        if start > end:
            raise ValueError
    except ValueError:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(data[start:end + 1], status_code=206, media_type=media_type, headers=headers)
