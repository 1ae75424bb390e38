"""Two voices of a mono channel told apart: speaker embeddings over its voice activity, clustered in two.

Each voice region (Silero VAD) is cut into windows of 1.6 s (a shorter region is one window, its audio repeated to
fill it), each window is embedded by the GE2E encoder (:mod:`~qa.speech.diarize.encoder`), and the embeddings are
split into two clusters by cosine k-means started from the first principal component. A word then takes the voice
whose centroid the windows over it resemble more, with a margin that becomes its confidence. Too little speech, or
clusters that are one voice (centroids alike, or one of them almost empty), give no split and a reason instead.
Windows are embedded in batches, so memory stays bounded however long the call is (a 2-hour call keeps about 18 000 ×
256 floats of embeddings).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.speech.diarize.encoder import RATE, SpeakerEncoder, mel_frames, normalise_volume

WINDOW_S = 1.6
HOP_S = 0.6
MIN_REGION_S = 0.3
BATCH = 64
MIN_SPEECH_S = 4.0  # less voice than this: too short to tell two voices
# One voice or two (measured on the tune half of the degraded eval calls, GSM: two voices had centroids 0.67–0.85
# alike and windows of one cluster 0.105–0.26 more alike than across; one channel alone 0.86–0.93 and 0.03–0.09)
SAME_VOICE_SIMILARITY = 0.87  # centroids this alike are one voice
MIN_SEPARATION = 0.095  # within-cluster minus between-cluster similarity of the windows
MIN_SHARE = 0.08  # the smaller voice must hold this share of the windows
FULL_MARGIN = 0.12  # a similarity margin this wide is a sure word


@dataclass
class VoiceSplit:
    """The two voices found on a channel (or why there are not two)."""

    windows: list[tuple[float, float]] = field(default_factory=list)
    margins: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))  # >0: voice 0, <0: voice 1
    similarity: float | None = None  # cosine similarity of the two centroids
    reason: str = ""  # why there is no split (empty when there is one)

    @property
    def split(self) -> bool:
        return not self.reason

    def word_voice(self, start: float, end: float) -> tuple[int, float]:
        """The voice (0 or 1) of a word and the confidence of that (0.5 = a coin toss, 1 = sure)."""
        if not self.windows:
            return 0, 0.5
        starts = np.array([w[0] for w in self.windows])
        ends = np.array([w[1] for w in self.windows])
        overlap = np.minimum(ends, end) - np.maximum(starts, start)
        mask = overlap > 0
        if not mask.any():  # no window over the word: the nearest one
            centre = (start + end) / 2
            k = int(np.argmin(np.abs((starts + ends) / 2 - centre)))
            weights, margins = np.array([1.0]), self.margins[k:k + 1]
        else:
            weights, margins = overlap[mask], self.margins[mask]
        margin = float(np.average(margins, weights=weights))
        return (0 if margin >= 0 else 1), 0.5 + 0.5 * min(1.0, abs(margin) / FULL_MARGIN)


def _windows(regions: Sequence[Sequence[float]], duration: float) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for start, end in regions:
        start, end = max(0.0, float(start)), min(duration, float(end))
        length = end - start
        if length < MIN_REGION_S:
            continue
        if length <= WINDOW_S:
            out.append((start, end))
            continue
        count = int(np.ceil((length - WINDOW_S) / HOP_S)) + 1
        step = (length - WINDOW_S) / (count - 1)
        out.extend((start + k * step, start + k * step + WINDOW_S) for k in range(count))
    return out


def _mels_of(samples: np.ndarray, windows: Sequence[tuple[float, float]]) -> np.ndarray:
    """Mel windows ``(len(windows), 160, 40)``: the spectrogram of each run of overlapping windows is computed once
    and the windows sliced from it; a window shorter than 1.6 s is its frames repeated."""
    frames = int(WINDOW_S * 100)
    out = np.zeros((len(windows), frames, 40), dtype=np.float32)
    k = 0
    while k < len(windows):
        j = k + 1
        while j < len(windows) and windows[j][0] < windows[j - 1][1]:
            j += 1  # windows of one voice region overlap
        start, end = windows[k][0], windows[j - 1][1]
        mels = mel_frames(normalise_volume(samples[int(start * RATE):int(end * RATE)]))
        for n in range(k, j):
            a = round((windows[n][0] - start) * 100)
            piece = mels[a:a + frames]
            if len(piece) == 0:
                continue
            if len(piece) < frames:
                piece = np.tile(piece, (frames // len(piece) + 1, 1))[:frames]
            out[n] = piece
        k = j
    return out


def embed_windows(samples: np.ndarray, windows: Sequence[tuple[float, float]], encoder: SpeakerEncoder) -> np.ndarray:
    """Embeddings ``(len(windows), 256)``, computed :data:`BATCH` windows at a time."""
    out = np.zeros((len(windows), 256), dtype=np.float32)
    for first in range(0, len(windows), BATCH):
        batch = _mels_of(samples, windows[first:first + BATCH])
        out[first:first + len(batch)] = encoder.embed_mels(batch)
    return out


def two_means(embeddings: np.ndarray, iterations: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k-means with k = 2, started from the sign of the first principal component (a split along the
    direction the windows differ most: started from the two least alike windows instead, an odd window could take a
    cluster of its own): (labels, unit centroids)."""
    x = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-8)
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    labels = (centred @ vt[0] > 0).astype(int)
    centroids = np.zeros((2, x.shape[1]), dtype=np.float32)
    for step in range(iterations):
        for k in (0, 1):
            mean = x[labels == k].mean(axis=0) if (labels == k).any() else x.mean(axis=0)
            centroids[k] = mean / max(float(np.linalg.norm(mean)), 1e-8)
        new = np.argmax(x @ centroids.T, axis=1)
        if step and (new == labels).all():
            break
        labels = new
    return labels, centroids


def separation(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """Mean cosine similarity of windows of one cluster minus that of windows of different clusters, from the
    clusters' sums (no pairwise matrix: a 2-hour call has ~18 000 windows)."""
    x = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-8)
    sums = [x[labels == k].sum(axis=0) for k in (0, 1)]
    counts = [int((labels == k).sum()) for k in (0, 1)]
    within = [(float(sums[k] @ sums[k]) - counts[k]) / (counts[k] * (counts[k] - 1)) for k in (0, 1) if counts[k] > 1]
    if not within or min(counts) == 0:
        return 0.0
    between = float(sums[0] @ sums[1]) / (counts[0] * counts[1])
    return float(np.mean(within)) - between


def split_voices(samples: np.ndarray, regions: Sequence[Sequence[float]], encoder: SpeakerEncoder) -> VoiceSplit:
    """Two voices over the voice ``regions`` (seconds) of one 16 kHz channel, or the reason there are not two."""
    speech = sum(max(0.0, float(b) - float(a)) for a, b in regions)
    if speech < MIN_SPEECH_S:
        return VoiceSplit(reason=f"too little speech to tell two voices ({speech:.1f} s of voice)")
    windows = _windows(regions, samples.size / RATE)
    if len(windows) < 4:
        return VoiceSplit(reason=f"too little speech to tell two voices ({len(windows)} stretches of voice)")
    embeddings = embed_windows(samples, windows, encoder)
    labels, centroids = two_means(embeddings)
    similarity = float(centroids[0] @ centroids[1])
    share = min(float((labels == 0).mean()), float((labels == 1).mean()))
    gap = separation(embeddings, labels)
    if similarity >= SAME_VOICE_SIMILARITY or share < MIN_SHARE or gap < MIN_SEPARATION:
        why = (f"centroids {similarity:.2f} alike" if similarity >= SAME_VOICE_SIMILARITY else
               f"the second voice holds {share:.0%} of the speech" if share < MIN_SHARE else
               f"windows of the two clusters differ by {gap:.2f} only")
        return VoiceSplit(windows=windows, similarity=round(similarity, 3), reason=f"one voice heard ({why})")
    x = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-8)
    sims = x @ centroids.T
    return VoiceSplit(windows=windows, margins=(sims[:, 0] - sims[:, 1]).astype(np.float32),
                      similarity=round(similarity, 3))
