"""Speaker attribution on one-channel (mono) audio by pitch: two voices told apart by their pitch clusters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qa.speech.audio import estimate_pitch

_PITCH_ISLAND_GAP = 0.3  # words closer than this are one island, assumed one speaker


def attribute_by_pitch(samples: np.ndarray, spans: Sequence[tuple[float, float]]) -> list[str] | None:
    """Operator/client labels for word spans of one mono channel, from two pitch clusters.

    Words are grouped into islands of continuous speech; each island's median pitch is split into
    two clusters (1-D 2-means on log pitch). The cluster of the first island is the operator (who
    opens an inbound call). Returns None when the voices are not separable (one speaker, or the
    clusters less than ~1.5 semitones apart), so the caller keeps ``unknown``.
    """
    islands: list[list[int]] = []
    for i, (start, _end) in enumerate(spans):
        if islands and start - spans[islands[-1][-1]][1] <= _PITCH_ISLAND_GAP:
            islands[-1].append(i)
        else:
            islands.append([i])
    ranges = [(spans[isl[0]][0], spans[isl[-1]][1]) for isl in islands]
    pitches = estimate_pitch(samples, ranges)
    known = [(k, np.log2(p)) for k, p in enumerate(pitches) if p]
    if len(known) < 2:
        return None
    values = np.array([v for _, v in known])
    low, high = float(np.percentile(values, 20)), float(np.percentile(values, 80))
    for _ in range(20):
        split = (low + high) / 2
        a, b = values[values <= split], values[values > split]
        if a.size == 0 or b.size == 0:
            return None
        low, high = float(a.mean()), float(b.mean())
    if (high - low) * 12 < 1.5:
        return None
    split = (low + high) / 2
    cluster = [None] * len(islands)
    for k, v in known:
        cluster[k] = v > split
    for k in range(len(cluster)):  # unvoiced islands take the cluster of their neighbour
        if cluster[k] is None:
            cluster[k] = next((c for c in cluster[k::-1] if c is not None), None)
            if cluster[k] is None:
                cluster[k] = next(c for c in cluster[k:] if c is not None)
    operator_cluster = cluster[0]
    labels: list[str] = [""] * len(spans)
    for isl, c in zip(islands, cluster, strict=True):
        for i in isl:
            labels[i] = "operator" if c == operator_cluster else "client"
    return labels
