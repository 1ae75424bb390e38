"""Every core transcribes: how many calls one process transcribes at once (chosen from the cores and memory, or
set), one model with a replica per transcription giving exactly the transcripts of one call at a time, the
allocator fix that keeps Dask workers as fast as the flow process, and the choice recorded with each run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.speech.transcribe.concurrency import MIB_PER_TRANSCRIPTION, PROCESS_MIB, Concurrency, choose
from qa.store import open_store

REPO = Path(__file__).resolve().parents[1]
AUDIO = REPO / "tests" / "fixtures" / "audio"
SAMPLES = REPO / "data" / "samples"
ROOMY = 64 * 1024  # MiB: memory that limits nothing


@pytest.mark.parametrize(("device", "given", "threads", "cores", "memory", "expected"), [
    ("cpu", None, None, 2, ROOMY, (2, 1)),  # one transcription per core, one thread each
    ("cpu", None, None, 16, ROOMY, (16, 1)),
    ("cpu", None, None, 64, ROOMY, (16, 1)),  # at most 16 in one process
    ("cpu", None, None, 8, PROCESS_MIB + 3 * MIB_PER_TRANSCRIPTION + 10, (3, 1)),  # memory allows three
    ("cpu", None, None, 8, 100, (1, 1)),  # never fewer than one
    ("cpu", None, 2, 8, ROOMY, (4, 2)),  # QA_CPU_THREADS=2: four of two threads
    ("cpu", 3, None, 2, ROOMY, (3, 1)),  # set: taken as given, the cores shared out
    ("cpu", 1, None, 4, ROOMY, (1, 4)),  # one at a time with every core: the old default
    ("cuda", None, None, 8, ROOMY, (1, 8)),  # a GPU: one at a time, its batches fill it
])
def test_how_many_calls_at_once(device, given, threads, cores, memory, expected, monkeypatch):
    monkeypatch.delenv("QA_TRANSCRIPTIONS", raising=False)
    monkeypatch.delenv("QA_CPU_THREADS", raising=False)
    chosen = choose(device, given, threads, cores=cores, memory_mib=memory)
    assert (chosen.transcriptions, chosen.threads) == expected
    assert chosen.chosen_by.startswith("set" if given else "auto")


def test_the_environment_sets_them_and_a_bad_value_is_named(monkeypatch):
    monkeypatch.setenv("QA_TRANSCRIPTIONS", "3")
    monkeypatch.setenv("QA_CPU_THREADS", "2")
    assert choose("cpu", cores=16, memory_mib=ROOMY) == Concurrency(3, 2, "set")
    monkeypatch.setenv("QA_TRANSCRIPTIONS", "many")
    with pytest.raises(ValueError, match="QA_TRANSCRIPTIONS='many'"):
        choose("cpu", cores=2, memory_mib=ROOMY)
    monkeypatch.setenv("QA_TRANSCRIPTIONS", "0")
    with pytest.raises(ValueError, match="at least 1"):
        choose("cpu", cores=2, memory_mib=ROOMY)


def test_auto_reads_this_machine(monkeypatch):
    monkeypatch.delenv("QA_TRANSCRIPTIONS", raising=False)
    monkeypatch.delenv("QA_CPU_THREADS", raising=False)
    chosen = choose("cpu")
    assert 1 <= chosen.transcriptions <= len(os.sched_getaffinity(0))
    assert chosen.chosen_by.startswith(f"auto: {len(os.sched_getaffinity(0))} cores")


def _transcripts(transcriber, paths, at_once: int) -> list[dict]:
    from qa.speech.transcribe import transcript_to_dict

    with ThreadPoolExecutor(at_once) as pool:
        done = list(pool.map(transcriber.transcribe, paths))
    out = []
    for t in done:
        d = transcript_to_dict(t)
        d["options"].pop("cpu_threads")  # the one setting that differs: the threads each decode had
        out.append(d)
    return out


def test_two_calls_at_once_on_two_replicas_give_the_transcripts_of_one_at_a_time(monkeypatch):
    """One model with two replicas of one thread, two calls from two threads: both decode at the same time and
    each transcript equals the one the single-replica, all-threads transcriber makes."""
    from qa.speech.transcribe import Transcriber, TranscriptionOptions
    from qa.speech.transcribe.models import LoadedModel

    paths = [AUDIO / "two_speakers.flac", SAMPLES / "call_mono.ogg"]
    one_at_a_time = _transcripts(Transcriber(TranscriptionOptions(cpu_threads=2), replicas=1), paths, 1)

    held, peak, lock = [0], [0], threading.Lock()
    original = LoadedModel.replica

    @contextmanager
    def counted(self):
        with original(self) as replica:
            with lock:
                held[0] += 1
                peak[0] = max(peak[0], held[0])
            try:
                yield replica
            finally:
                with lock:
                    held[0] -= 1

    monkeypatch.setattr(LoadedModel, "replica", counted)
    parallel = Transcriber(TranscriptionOptions(cpu_threads=1), replicas=2)
    assert parallel._model().replicas == 2
    assert _transcripts(parallel, paths, 2) == one_at_a_time
    assert peak[0] == 2  # both replicas were decoding at once


_FAULTS = """
import resource, sys
import numpy as np
sys.path.insert(0, {repo!r})
from qa.speech.transcribe.allocator import tune_allocator

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(300):
        block = np.ones(1 << 18)  # 2 MiB, allocated and freed as a decode's buffers are
        del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

untuned = faults()
tuned = tune_allocator()
faults()  # the heap grows to hold the block once
print(untuned, faults(), int(tuned))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's allocator")
def test_a_dask_workers_malloc_setting_no_longer_costs_page_faults():
    """Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which makes glibc map and unmap every big
    block: each reuse of a 2 MiB buffer costs ~512 page faults. After tune_allocator it costs almost none."""
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    done = subprocess.run([sys.executable, "-c", _FAULTS.format(repo=str(REPO))], capture_output=True, text=True,
                          env=env, check=True)
    untuned, tuned, applied = (int(x) for x in done.stdout.split())
    assert applied == 1
    assert untuned > 300 * 256  # every block faulted in afresh
    assert tuned < untuned / 20


_HELD = """
import sys
import numpy as np
sys.path.insert(0, {repo!r})
from qa.speech.transcribe.allocator import release_memory, tune_allocator

def resident():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) // 1024

tune_allocator()
blocks = [np.ones(1 << 17) for _ in range(300)]  # 300 MiB of 1 MiB buffers, from the heap
kept = blocks[::10]  # a few still in use, between the freed ones: the heap cannot shrink from its top
del blocks
held = resident()
print(held, int(release_memory()), resident())
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's allocator")
def test_memory_a_window_freed_is_handed_back_before_the_next():
    """With the thresholds a decode wants, freed buffers stay resident; release_memory (malloc_trim) hands them back,
    as a long call's windows do between them."""
    done = subprocess.run([sys.executable, "-c", _HELD.format(repo=str(REPO))], capture_output=True, text=True,
                          check=True)
    held, released, after = (int(x) for x in done.stdout.split())
    assert released == 1
    assert held > 250 and held - after > 200  # MiB: the 270 MiB freed, back to the kernel


def test_the_run_records_how_many_calls_it_transcribed_at_once(sample_db_template):
    settings = json.loads(open_store(sample_db_template).query("SELECT settings FROM runs")[1][0][0])
    cores = len(os.sched_getaffinity(0))
    assert settings["transcriptions"] >= 1 and settings["cpu_threads"] >= 1
    assert settings["transcriptions"] * settings["cpu_threads"] <= max(cores, settings["transcriptions"])
    assert settings["transcriptions_chosen_by"].startswith("auto:")
    assert (settings["chunk_size"], settings["text_chunk_size"]) == (4, 100)
    assert settings["runner"].startswith("embedded thread pool")


def test_cli_run_takes_a_number_of_transcriptions_and_records_it(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("chat_good.chat.json", "chat_slow.chat.json"):
        (inbox / name).write_text((SAMPLES / name).read_text(encoding="utf-8"), encoding="utf-8")
    db = tmp_path / "qa.duckdb"
    result = CliRunner().invoke(app, ["run", str(inbox), "--db", str(db), "--transcriptions", "3"])
    assert result.exit_code == 0, result.output
    settings = json.loads(open_store(db).query("SELECT settings FROM runs")[1][0][0])
    assert (settings["transcriptions"], settings["transcriptions_chosen_by"]) == (3, "set")
    assert settings["runner"] == "embedded thread pool of 3 threads"
    refused = CliRunner().invoke(app, ["run", str(inbox), "--db", str(db), "--transcriptions", "2", "--workers", "2"])
    assert refused.exit_code == 2 and "--transcriptions" in refused.output
