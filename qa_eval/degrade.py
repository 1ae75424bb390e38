"""The evaluation calls as a PBX records them, made deterministically from the committed stereo masters.

Conditions (:data:`CONDITIONS`): the master itself (``clean``: stereo 16 kHz, operator left), and four copies a
contact center really gets: ``alaw`` (mono 8 kHz A-law WAV), ``mp3`` (mono MP3 at 32 kbit/s), ``gsm`` (mono GSM 06.10
WAV) and ``noisy`` (stereo 8 kHz, line noise at 20 dB SNR on each channel). The codec files are written by sox (the
real encoders), so the bench decodes real A-law, MP3 and GSM frames; the noise is seeded by the call id. Needs sox with
its MP3 and GSM formats (Debian: ``sox libsox-fmt-all``).
"""

from __future__ import annotations

import shutil
import subprocess
import wave
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Condition:
    """One way a call is recorded: its file suffix, whether it is one channel, and the sox output options."""

    name: str
    suffix: str
    mono: bool
    sox: tuple[str, ...] = ()
    noise_snr_db: float | None = None


CONDITIONS: dict[str, Condition] = {
    "clean": Condition("clean", ".ogg", False),
    "alaw": Condition("alaw", ".wav", True, ("-r", "8000", "-c", "1", "-e", "a-law", "-b", "8")),
    "mp3": Condition("mp3", ".mp3", True, ("-r", "8000", "-c", "1", "-C", "32")),
    "gsm": Condition("gsm", ".wav", True, ("-r", "8000", "-c", "1", "-e", "gsm-full-rate")),
    "noisy": Condition("noisy", ".wav", False, ("-r", "8000", "-c", "2", "-e", "signed", "-b", "16"), 20.0),
}
DEGRADED = ("alaw", "mp3", "gsm", "noisy")


def _write_wav(path: Path, channels: list[np.ndarray], rate: int) -> None:
    frames = np.clip(np.stack(channels, axis=1), -1.0, 1.0)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(len(channels))
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((frames * 32767).astype("<i2").tobytes())


def _line_noise(n: int, seed: int) -> np.ndarray:
    """Hiss with a little mains hum, unit RMS."""
    rng = np.random.default_rng(seed)
    hiss = np.convolve(rng.standard_normal(n), np.ones(3) / 3, mode="same")
    t = np.arange(n) / 16000
    noise = hiss + 0.3 * np.sin(2 * np.pi * 50 * t) + 0.1 * np.sin(2 * np.pi * 150 * t)
    return (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)


def _add_noise(channel: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    voiced = channel[np.abs(channel) > 0.01]
    speech_rms = float(np.sqrt(np.mean(voiced**2))) if voiced.size else 0.01
    return channel + _line_noise(channel.size, seed) * np.float32(speech_rms / 10 ** (snr_db / 20))


def degraded_copy(master: Path, condition: str, out_dir: Path) -> Path:
    """The ``condition`` copy of a stereo master (made once into ``out_dir/<condition>/``, then reused)."""
    from qa.speech.audio import decode_audio

    cond = CONDITIONS[condition]
    if condition == "clean":
        return master
    out = out_dir / condition / f"{master.name.split('.')[0]}{cond.suffix}"
    if out.is_file():
        return out
    if shutil.which("sox") is None:
        raise RuntimeError("sox is needed for the degraded copies: apt-get install -y sox libsox-fmt-all")
    out.parent.mkdir(parents=True, exist_ok=True)
    audio = decode_audio(master)
    left, right = audio.channels[0], audio.channels[-1]
    if cond.mono:
        channels = [0.5 * (left + right) * 1.6]
    else:
        channels = [left, right]
    if cond.noise_snr_db is not None:
        seed = zlib.crc32(master.name.encode())
        channels = [_add_noise(c, cond.noise_snr_db, seed + k) for k, c in enumerate(channels)]
    tmp = out.with_suffix(".in.wav")
    _write_wav(tmp, channels, audio.sample_rate)
    try:
        subprocess.run(["sox", "-D", "-R", "-G", str(tmp), *cond.sox, str(out)], check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        out.unlink(missing_ok=True)
        raise RuntimeError(f"sox could not write {out}: {exc.stderr.decode(errors='replace')}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return out
