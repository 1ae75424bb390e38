"""Serving call recordings to the browser's player: the formats it plays as stored, WAV decoded from those it
cannot, WAV with personal data beeped (each cached per file version), and single byte ranges so the player can
seek."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi.responses import Response

# Formats Chromium plays from the stored file as is (with Range requests, so seeking works).
PLAYABLE = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg",
            ".opus": "audio/ogg", ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".webm": "audio/webm"}


def _decode(path: str):  # -> qa.speech.audio.DecodedAudio
    """The recording at ``path`` decoded (a headerless one with the ``raw_format`` of its sidecar)."""
    from qa.inbox.inputs import read_sidecar
    from qa.speech.audio import RawFormat, decode_audio

    source = Path(path)
    sidecar = source.with_suffix(".json")
    raw = read_sidecar(source, sidecar if sidecar.is_file() else None).raw_format
    return decode_audio(source, RawFormat(**raw) if raw else None)


def _load(paths: tuple[str, ...]):  # -> qa.speech.audio.DecodedAudio
    """One recording decoded, or a call recorded as split legs (PBX -in/-out) as one, a channel per leg."""
    from qa.speech.legs import decode_legs

    return _decode(paths[0]) if len(paths) == 1 else decode_legs([Path(p) for p in paths])


@lru_cache(maxsize=4)
def _wav(paths: tuple[str, ...], _versions: tuple[tuple[int, int], ...],
         mute: tuple[tuple[float, float], ...]) -> bytes:
    """The whole recording (one file or its legs) as WAV, with a beep over each ``mute`` range (the words holding
    personal data) as the export's clips are beeped; cached per file versions and ranges."""
    from qa.speech.audio import cut_clip, encode_audio

    audio = _load(paths)
    channels = cut_clip(audio, 0.0, audio.duration_s, list(mute)) if mute else audio.channels
    return encode_audio(channels[:2], audio.sample_rate, "wav")


def recording_wav(paths: list[Path], mute: tuple[tuple[float, float], ...] = ()) -> bytes:
    """:func:`_wav` of these files as they are now: one recording, or the legs of a split call played as one stereo
    WAV; beeped over ``mute``."""
    stats = [p.stat() for p in paths]
    return _wav(tuple(str(p.resolve()) for p in paths), tuple((s.st_mtime_ns, s.st_size) for s in stats), mute)


def starts_listening(range_header: str | None) -> bool:
    """Whether a request for a recording starts playing it (no range, or a range from its first byte), not a seek
    or a further piece of a listening already started: one audit line per listening."""
    if not range_header:
        return True
    first = range_header.partition("=")[2].split(",")[0].strip().partition("-")[0]
    return first.strip() == "0"


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
