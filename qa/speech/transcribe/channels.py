"""Which channel of a call is which speaker: the channel plan of one transcription.

A stereo call has the operator on the left and the client on the right unless a ``channels`` mapping says
otherwise; two identical channels are one voice track (mono); a mono track's speakers are attributed later.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import AudioError
from qa.speech.audio import DecodedAudio

DEFAULT_STEREO = {"left": "operator", "right": "client"}
_CHANNEL_NAMES = {"left": 0, "right": 1, "mono": 0}
_IDENTICAL_TOLERANCE = 1e-3


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
            plan.append((index, None if speaker == "unknown" else speaker))  # unknown: attribute by voice
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
