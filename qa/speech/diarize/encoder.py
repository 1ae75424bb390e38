"""The GE2E speaker encoder of Resemblyzer (``resemblyzer/pretrained.pt``, Apache-2.0) run in numpy, without torch.

The PyPI wheel ``resemblyzer==0.1.4`` ships the weights (a 3-layer LSTM of 256 units over 40 mel bands and a
256→256 projection, trained with the generalised end-to-end loss on LibriSpeech, VoxCeleb 1 and 2). The wheel is
installed without its dependencies (``pip install --no-deps resemblyzer==0.1.4``: torch, librosa and webrtcvad are
never needed) and never imported: :func:`weights_path` finds its folder, :func:`read_legacy_torch` reads the legacy
torch file (a pickle whose tensors point at raw storages that follow it), and :class:`SpeakerEncoder` computes the
mel spectrogram (as librosa's ``melspectrogram``: 25 ms Hann window, 10 ms hop, 40 Slaney mel bands, power 2) and runs
the network. Nothing is downloaded; the file is checked against its sha256.
"""

from __future__ import annotations

import hashlib
import importlib.util
import pickle
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

RATE = 16000
WEIGHTS_PACKAGE = "resemblyzer==0.1.4"
WEIGHTS_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
_N_FFT = 400  # 25 ms
_HOP = 160  # 10 ms
_MELS = 40
_HIDDEN = 256
_LAYERS = 3
_NORM_DBFS = -30.0
_INT16_MAX = 2**15 - 1


class SpeakerModelMissing(RuntimeError):
    """The speaker encoder's weights are not installed."""


def weights_path() -> Path:
    """``pretrained.pt`` of the installed resemblyzer wheel (found without importing it, which needs torch)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise SpeakerModelMissing(f"speaker model not installed (pip install --no-deps {WEIGHTS_PACKAGE})")
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise SpeakerModelMissing(f"{path} missing (pip install --no-deps --force-reinstall {WEIGHTS_PACKAGE})")
    return path


# --- the legacy torch format ----------------------------------------------------------------------------------

_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
           "ByteStorage": np.uint8, "BoolStorage": np.bool_}


@dataclass
class _Storage:
    dtype: Any
    numel: int
    data: np.ndarray | None = None


@dataclass
class _LazyTensor:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> np.ndarray:
        assert self.storage.data is not None
        item = self.storage.data.itemsize
        view = np.lib.stride_tricks.as_strided(self.storage.data[self.offset:], shape=self.size,
                                               strides=tuple(s * item for s in self.stride))
        return np.array(view)


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple, *_rest: Any) -> _LazyTensor:
    return _LazyTensor(storage, int(offset), tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    """Reads the tensors of a legacy torch pickle as :class:`_LazyTensor` (nothing of torch is needed)."""

    def __init__(self, handle: Any, storages: dict[str, _Storage]) -> None:
        super().__init__(handle)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return name
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a weights file")

    def persistent_load(self, saved_id: Any) -> Any:
        kind, storage_type, key, _location, numel, *_view = saved_id
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {kind!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(_DTYPES[storage_type], int(numel))
        return self.storages[key]


def read_legacy_torch(path: Path) -> dict[str, Any]:
    """The object saved in a legacy (pre-1.6, non-zip) ``torch.save`` file, tensors as numpy arrays."""
    storages: dict[str, _Storage] = {}
    with open(path, "rb") as handle:
        magic = pickle.load(handle)
        if magic != 0x1950A86A20F9469CFC6C:
            raise ValueError(f"{path}: not a legacy torch file")
        pickle.load(handle)  # protocol version
        pickle.load(handle)  # system info
        result = _Unpickler(handle, storages).load()
        for key in pickle.load(handle):
            storage = storages[key]
            count = int(np.frombuffer(handle.read(8), dtype="<i8")[0])
            raw = handle.read(count * np.dtype(storage.dtype).itemsize)
            storage.data = np.frombuffer(raw, dtype=storage.dtype)

    def resolve(value: Any) -> Any:
        if isinstance(value, _LazyTensor):
            return value.array()
        if isinstance(value, dict):
            return type(value)((k, resolve(v)) for k, v in value.items())
        return value

    return resolve(result)


# --- features and network -------------------------------------------------------------------------------------


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_part = hz >= 1000.0
    return np.where(log_part, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


def mel_filters(rate: int = RATE, n_fft: int = _N_FFT, n_mels: int = _MELS) -> np.ndarray:
    """Slaney-normalised triangular mel filters, ``(n_mels, 1 + n_fft // 2)`` (librosa.filters.mel)."""
    freqs = np.linspace(0, rate / 2, 1 + n_fft // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(rate / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_N_FFT) / _N_FFT)).astype(np.float32)  # periodic Hann
_FILTERS = mel_filters()


def mel_frames(samples: np.ndarray) -> np.ndarray:
    """Mel power spectrogram ``(frames, 40)`` of 16 kHz samples, one frame per 10 ms (centred, zero-padded)."""
    padded = np.pad(samples.astype(np.float32), _N_FFT // 2)
    count = 1 + (padded.size - _N_FFT) // _HOP
    if count <= 0:
        return np.zeros((0, _MELS), dtype=np.float32)
    index = np.arange(_N_FFT)[None, :] + _HOP * np.arange(count)[:, None]
    spectrum = np.abs(np.fft.rfft(padded[index] * _WINDOW, axis=1)) ** 2
    return (spectrum.astype(np.float32) @ _FILTERS.T).astype(np.float32)


def normalise_volume(samples: np.ndarray) -> np.ndarray:
    """Raise quiet audio to -30 dBFS RMS (never lower it), as the encoder was trained."""
    rms = float(np.sqrt(np.mean((samples.astype(np.float64) * _INT16_MAX) ** 2))) if samples.size else 0.0
    if rms <= 0:
        return samples
    change = _NORM_DBFS - 20 * np.log10(rms / _INT16_MAX)
    return samples * np.float32(10 ** (change / 20)) if change > 0 else samples


_GATE_SCALE = np.concatenate([np.full(2 * _HIDDEN, 0.5), np.ones(_HIDDEN), np.full(_HIDDEN, 0.5)]).astype(np.float32)


class SpeakerEncoder:
    """Embeds stretches of speech as 256-d unit vectors (cosine similarity tells voices apart)."""

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        self.layers = []
        for k in range(_LAYERS):
            w_ih = state[f"lstm.weight_ih_l{k}"].astype(np.float32)
            w_hh = state[f"lstm.weight_hh_l{k}"].astype(np.float32)
            bias = (state[f"lstm.bias_ih_l{k}"] + state[f"lstm.bias_hh_l{k}"]).astype(np.float32)
            self.layers.append((np.ascontiguousarray(w_ih.T), np.ascontiguousarray(w_hh.T), bias))
        self._w_hh_scaled = {id(w_hh): np.ascontiguousarray(w_hh * _GATE_SCALE) for _, w_hh, _ in self.layers}
        self.w_out = np.ascontiguousarray(state["linear.weight"].astype(np.float32).T)
        self.b_out = state["linear.bias"].astype(np.float32)

    def embed_mels(self, mels: np.ndarray) -> np.ndarray:
        """Embeddings ``(batch, 256)`` of mel windows ``(batch, frames, 40)``: the last hidden state of the top
        LSTM layer, projected, ReLU, L2-normalised."""
        batch, frames, _ = mels.shape
        x = mels.astype(np.float32)
        h = np.zeros((batch, _HIDDEN), dtype=np.float32)
        g = np.empty((batch, 4 * _HIDDEN), dtype=np.float32)
        for w_ih, w_hh, bias in self.layers:
            # gates i, f, g, o; sigmoid(x) = (1 + tanh(x / 2)) / 2, so one tanh over all four gates per step
            gates_in = ((x.reshape(batch * frames, -1) @ w_ih + bias) * _GATE_SCALE).reshape(batch, frames, -1)
            h = np.zeros((batch, _HIDDEN), dtype=np.float32)
            c = np.zeros((batch, _HIDDEN), dtype=np.float32)
            outputs = np.empty((batch, frames, _HIDDEN), dtype=np.float32)
            for t in range(frames):
                np.matmul(h, self._w_hh_scaled[id(w_hh)], out=g)
                g += gates_in[:, t]
                np.tanh(g, out=g)
                i = g[:, :_HIDDEN]
                f = g[:, _HIDDEN:2 * _HIDDEN]
                o = g[:, 3 * _HIDDEN:]
                c *= 0.5 * (1.0 + f)
                c += 0.5 * (1.0 + i) * g[:, 2 * _HIDDEN:3 * _HIDDEN]
                h = 0.5 * (1.0 + o) * np.tanh(c)
                outputs[:, t] = h
            x = outputs
        raw = np.maximum(h @ self.w_out + self.b_out, 0.0)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        return raw / np.maximum(norms, 1e-8)


_ENCODER: SpeakerEncoder | None = None
_ENCODER_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """The sha256 of the weights file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def get_encoder() -> SpeakerEncoder:
    """The process-wide encoder (the weights are read once; raises :class:`SpeakerModelMissing`)."""
    global _ENCODER
    with _ENCODER_LOCK:
        if _ENCODER is None:
            path = weights_path()
            if file_sha256(path) != WEIGHTS_SHA256:
                raise SpeakerModelMissing(f"{path}: not the weights of {WEIGHTS_PACKAGE} (sha256 differs)")
            checkpoint = read_legacy_torch(path)
            _ENCODER = SpeakerEncoder(checkpoint["model_state"])
        return _ENCODER
