"""A call recorded as split legs is read as one stereo call block by block (:class:`qa.speech.legs.LegsStream`): the
same samples as the legs decoded whole and put side by side, without ever holding a leg whole; a bad leg is named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.errors import AudioError
from qa.speech.audio import TARGET_RATE, AudioStream, decode_audio, encode_audio
from qa.speech.legs import LegsStream, decode_legs, legs_sha256

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def whole_legs(paths: list[Path]) -> np.ndarray:
    """The legs as they were joined before streaming: each decoded whole, mixed down, the shorter padded."""
    decoded = [decode_audio(p) for p in paths]
    channels = [np.mean(np.stack(d.channels), axis=0).astype(np.float32) if len(d.channels) > 1 else d.channels[0]
                for d in decoded]
    length = max(len(c) for c in channels)
    return np.stack([np.pad(c, (0, length - len(c))) for c in channels])


@pytest.fixture(scope="module")
def legs(tmp_path_factory) -> list[Path]:
    """An A-law mono leg of 40 s and a stereo 16-bit leg of 25 s (the other party's, hung up earlier)."""
    root = tmp_path_factory.mktemp("legs")
    call = decode_audio(SAMPLES / "call_compliant.flac")
    first, second = root / "call-in.wav", root / "call-out.wav"
    first.write_bytes(encode_audio([call.channels[1][: 40 * TARGET_RATE]], TARGET_RATE, "wav-alaw"))
    stereo = [c[: 25 * TARGET_RATE] for c in call.channels]
    second.write_bytes(encode_audio([stereo[0], stereo[0] * 0.5], TARGET_RATE, "wav-8k"))
    return [first, second]


def test_the_legs_streamed_are_the_legs_decoded_whole_side_by_side(legs):
    with LegsStream(legs) as stream:
        blocks = list(stream.blocks())
    joined = np.concatenate(blocks, axis=1)
    expected = whole_legs(legs)
    assert joined.shape == expected.shape == (2, 40 * TARGET_RATE)
    assert np.array_equal(joined, expected)
    assert not joined[1, 25 * TARGET_RATE:].any()  # the leg that ended first: silence after its end
    assert stream.source_rate == 8000 and stream.source_channels == 2 and stream.samples == joined.shape[1]
    audio = decode_legs(legs)  # to play or cut clips: the same samples, in one array
    assert np.array_equal(np.stack(audio.channels), expected) and audio.duration_s == pytest.approx(40.0)


def test_no_leg_is_held_whole(legs):
    """Each block pairs what the legs' decoders gave last: never larger than a leg's own largest block."""
    largest = 0
    for path in legs:
        with AudioStream(path) as leg:
            largest = max(largest, *(b.shape[1] for b in leg.blocks()))
    with LegsStream(legs) as stream:
        sizes = [b.shape[1] for b in stream.blocks()]
    assert max(sizes) <= largest < TARGET_RATE  # under a second at a time, for a 40 s call
    assert len(sizes) > 40


def test_a_bad_leg_is_named_and_the_legs_hash_is_in_channel_order(legs, tmp_path):
    truncated = tmp_path / "call-out.wav"
    data = legs[1].read_bytes()
    truncated.write_bytes(data[: len(data) // 3])  # a leg still being copied
    with LegsStream([legs[0], truncated]) as stream, pytest.raises(AudioError, match="truncated") as error:
        list(stream.blocks())
    assert str(truncated) in str(error.value)
    with pytest.raises(AudioError, match="file not found"):
        LegsStream([legs[0], tmp_path / "missing-out.wav"])
    assert legs_sha256(legs) != legs_sha256(legs[::-1])
