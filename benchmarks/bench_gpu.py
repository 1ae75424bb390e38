"""float16 faster-whisper on a CUDA GPU: real-time factor, WER and peak GPU memory (``make bench-gpu``).

On the synthetic stereo call (``../shared/data/synthetic_call_ru``, with its truth transcript) it prints, for the
GPU (float16, faster-whisper's batched pipeline through ``qa.speech.transcribe``): model load time, wall real-time
factor of one call (best of two, after a warm-up), WER against the truth, then the same call transcribed
``--copies`` times in a row (100 by default; ``qa.speech.transcribe`` batches the ≤30 s chunks of one call on the GPU,
calls one after another) with throughput, the WER spread and whether every copy gave the same text; peak GPU
memory is sampled with ``nvidia-smi`` (or pynvml) while it runs. Beside it, as the baseline, the same call on
the CPU with int8 (skip with ``--no-cpu``). ``--budget-s`` stops the copies early (the figures say how many
ran), so the script stays well under five minutes on an H200.

Without a CUDA device it prints why and exits with status 2 (CI never has a GPU). Figures are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench_asr import CALL, load_vocabulary, wer_cer  # noqa: E402

from qa.speech.transcribe import Transcriber, TranscriptionOptions, cuda_available  # noqa: E402

NO_GPU_EXIT = 2
NO_DATA_EXIT = 3


class GpuMemory:
    """Peak used memory of GPU 0 (MiB), sampled every ``interval`` s by nvidia-smi or pynvml in a thread."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak_mib: float | None = None
        self.source = "none"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read = self._reader()

    def _reader(self):
        try:
            import pynvml  # optional: nvidia-ml-py, where installed

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self.source = "pynvml"
            return lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
        except Exception:  # any failure means: try nvidia-smi
            pass
        smi = shutil.which("nvidia-smi")
        if smi is None:
            return None
        self.source = "nvidia-smi"

        def read() -> float | None:
            done = subprocess.run([smi, "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                                  capture_output=True, text=True, timeout=5)
            return float(done.stdout.strip().splitlines()[0]) if done.returncode == 0 and done.stdout.strip() else None

        return read

    def sample(self) -> float | None:
        if self._read is None:
            return None
        try:
            value = self._read()
        except Exception:  # a failed sample is just missing
            return None
        if value is not None:
            self.peak_mib = max(self.peak_mib or 0.0, value)
        return value

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> GpuMemory:
        self.sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()


def _text(transcript) -> str:
    return " ".join(u.text for u in transcript.utterances)


def _one_call(transcriber: Transcriber, path: Path, truth: dict, repeats: int = 2) -> dict:
    """Best wall time of ``repeats`` runs of one call (after the caller's warm-up), its RTF and WER."""
    best, transcript = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        transcript = transcriber.transcribe(path)
        best = min(best, time.perf_counter() - started)
    wer, cer = wer_cer(truth["full_text"], _text(transcript))
    return {"wall_s": best, "rtf": best / truth["duration"], "wer": wer, "cer": cer}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=100, help="how many times the call is transcribed in a row")
    parser.add_argument("--budget-s", type=float, default=150.0, help="stop the copies after this many seconds")
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU int8 baseline")
    parser.add_argument("--rules", type=Path, default=REPO / "scripts_rules")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cpu only to smoke-test this script where there is no GPU (int8, slow)")
    args = parser.parse_args()

    if args.device == "cuda" and not cuda_available():
        print("bench-gpu: no CUDA device found (CTranslate2 sees no GPU here); nothing to measure. "
              "Run it on a machine with an NVIDIA GPU and its driver.", file=sys.stderr)
        return NO_GPU_EXIT
    path, truth_path = CALL / "call_stereo.flac", CALL / "call_truth.json"
    if not (path.is_file() and truth_path.is_file()):
        print(f"bench-gpu: {path} or {truth_path} is missing (../shared/data or QA_SHARED_DATA)", file=sys.stderr)
        return NO_DATA_EXIT
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    audio_s = truth["duration"]
    vocabulary = load_vocabulary(args.rules)

    with GpuMemory() as memory:
        compute_type = "float16" if args.device == "cuda" else "int8"
        gpu = Transcriber(TranscriptionOptions(device=args.device, compute_type=compute_type), vocabulary)
        started = time.perf_counter()
        settings = gpu.settings()  # loads the model
        load_s = time.perf_counter() - started
        idle_mib = memory.sample()
        started = time.perf_counter()
        gpu.transcribe(path)  # warm-up: CUDA kernels, VAD model
        warmup_s = time.perf_counter() - started
        one = _one_call(gpu, path, truth)
        texts: list[str] = []
        wers: list[float] = []
        started = time.perf_counter()
        for _ in range(args.copies):
            texts.append(_text(gpu.transcribe(path)))
            wers.append(wer_cer(truth["full_text"], texts[-1])[0])
            if time.perf_counter() - started > args.budget_s:
                break
        batch_s = time.perf_counter() - started

    label = "GPU" if args.device == "cuda" else "CPU smoke run"
    print(f"{label}: {settings['device']} {settings['compute_type']}, batch size {settings['batch_size']}, beam "
          f"{settings['beam_size']}, model {settings['model_path']}; model load {load_s:.2f} s, warm-up call "
          f"{warmup_s:.2f} s")
    print(f"[one call] {path.name}: audio {audio_s:.1f} s, wall {one['wall_s']:.2f} s → RTF {one['rtf']:.4f} "
          f"({1 / one['rtf']:.0f}× real time), WER {one['wer']:.3f}, CER {one['cer']:.3f}")
    done = len(texts)
    cut = f" (stopped by --budget-s {args.budget_s:g} after {done} of {args.copies})" if done < args.copies else ""
    print(f"[{done} copies in a row]{cut}: audio {done * audio_s / 3600:.2f} h in {batch_s:.1f} s → RTF "
          f"{batch_s / (done * audio_s):.4f} ({done * audio_s / batch_s:.0f}× real time, "
          f"{3600 * done / batch_s:.0f} calls/h), WER {min(wers):.3f}–{max(wers):.3f}, "
          f"{len(set(texts))} distinct transcript(s)")
    if memory.peak_mib is not None:
        idle = f", {idle_mib:.0f} MiB with the model loaded" if idle_mib is not None else ""
        print(f"peak GPU memory (device total, {memory.source}): {memory.peak_mib:.0f} MiB{idle}")
    else:
        print("peak GPU memory: not measured (neither pynvml nor nvidia-smi available)")

    if not args.no_cpu:
        cpu = Transcriber(TranscriptionOptions(device="cpu", compute_type="int8"), vocabulary)
        cpu_settings = cpu.settings()
        cpu.transcribe(path)  # warm-up
        base = _one_call(cpu, path, truth, repeats=1)
        print(f"[baseline: CPU int8, {cpu_settings['cpu_threads']} threads] wall {base['wall_s']:.2f} s → RTF "
              f"{base['rtf']:.4f} ({1 / base['rtf']:.0f}× real time), WER {base['wer']:.3f}; "
              f"GPU float16 is {base['wall_s'] / one['wall_s']:.1f}× faster on one call")
    print(f"peak host memory (ru_maxrss) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
