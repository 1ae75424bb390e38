# Two commands for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The speaker encoder's weights for mono calls (Resemblyzer's GE2E, Apache-2.0), read without torch: the wheel is
# installed without its dependencies (torch, librosa, webrtcvad are never used). qa/speech/diarize/encoder.py pins the
# same version and checks the weights' sha256.
SPEAKER_MODEL := resemblyzer==0.1.4
export HF_HUB_OFFLINE := 1
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export OPENBLAS_NUM_THREADS := 1

.PHONY: install browser model demo test lint rule-tests bench bench-text bench-asr bench-queries bench-redact bench-night clean samples

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps '$(SPEAKER_MODEL)'
	touch $(STAMP)

install: $(STAMP)

model: install
	$(BIN)/qa prepare-model

demo: model
	$(BIN)/qa run data/samples

lint: install
	$(BIN)/ruff check qa qa_eval tests benchmarks tools

rule-tests: install
	$(BIN)/qa check-rules scripts_rules

# Debian's Chromium for the browser tests (the system browser; nothing is downloaded by a test tool).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

test: install lint browser postgres
	QA_REQUIRE_BROWSER=1 QA_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -ra

bench: bench-text bench-asr bench-redact bench-queries

bench-text: install
	$(BIN)/python benchmarks/bench_text.py

bench-asr: model
	$(BIN)/python benchmarks/bench_asr.py

# Read-side latency on a database grown from the samples (COPIES copies of each; default 3000 = 21k conversations),
# or with CONVERSATIONS=N on a generated store of N conversations, beside the old view-based reads.
# With CONVERSATIONS it also prints one chunk's write cost on an empty store and on the generated one, and the rate
# of `qa rescore` over it; STORE=ducklake does all of it on a DuckLake copy (a throwaway PostgreSQL).
COPIES ?= 3000
CONVERSATIONS ?=
STORE ?= duckdb
bench-queries: model $(if $(filter ducklake,$(STORE)),postgres)
	nice -n 10 $(BIN)/python benchmarks/bench_queries.py $(if $(CONVERSATIONS),--conversations $(CONVERSATIONS) --store $(STORE),--copies $(COPIES))

bench-redact: install
	$(BIN)/python benchmarks/bench_redact.py

# The night on this machine: a cold inbox of CALLS calls of CALL_MINUTES minutes and CHATS chats, three ways side by
# side (today's code and settings, the embedded default, Dask with WORKERS workers), REPEATS times interleaved.
CALLS ?= 24
CALL_MINUTES ?= 3
CHATS ?= 200
WORKERS ?= 2
REPEATS ?= 1
bench-night: model
	$(BIN)/python benchmarks/bench_night.py --calls $(CALLS) --call-minutes $(CALL_MINUTES) --chats $(CHATS) \
		--workers $(WORKERS) --repeats $(REPEATS)

# Accuracy of the checks on tests/fixtures/eval (tune and untouched holdout halves), from transcripts and from the
# voiced calls as PBXs record them (A-law, MP3, GSM: written by sox from the committed masters; noisy stereo 8 kHz).
.PHONY: bench-accuracy sox festival
bench-accuracy: model sox
	$(BIN)/python benchmarks/bench_accuracy.py

# Debian's sox with its MP3 and GSM formats (the degraded copies of the evaluation calls).
sox:
	@command -v sox >/dev/null 2>&1 && sox -h 2>/dev/null | grep -q mp3 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sox libsox-fmt-all >/dev/null; }

# Debian's festival with its Russian voice (the synthetic speech of the samples and the evaluation calls).
festival: sox
	@command -v text2wave >/dev/null 2>&1 && ls /usr/share/festival/voices/russian >/dev/null 2>&1 || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq festival festvox-ru >/dev/null; }

# Regenerates the bundled samples and fixtures, and the evaluation calls' masters (festival, festvox-ru and sox).
samples: install festival
	$(BIN)/python tools/make_samples.py
	$(BIN)/python tools/make_eval_audio.py

# Debian's PostgreSQL server binaries for the DuckLake tests (each test starts a private throwaway server).
.PHONY: postgres
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }

# Bulk write throughput, DuckDB file vs DuckLake (a throwaway PostgreSQL); N conversations in chunks.
.PHONY: bench-lake
bench-lake: install postgres
	$(BIN)/python benchmarks/bench_lake_write.py --conversations $(or $(N),2000)

clean:
	rm -rf data/qa.duckdb data/qa.duckdb.wal data/cache .pytest_cache .ruff_cache

.PHONY: bench-fuzzy
bench-fuzzy: install
	$(BIN)/python benchmarks/bench_phrase_fuzzy.py

.PHONY: bench-timing
# Call timing vs truth, ours beside hotato and call-ai-metrics (each installed into .bench-venvs/ by the script).
bench-timing: model
	$(BIN)/python benchmarks/bench_timing.py

.PHONY: bench-speakers
# Speaker embeddings compared on the mono eval calls (GE2E vs log-mel statistics; CONDITION=alaw, HALVES=tune).
bench-speakers: install sox
	$(BIN)/python benchmarks/bench_speakers.py --condition $(or $(CONDITION),alaw) --halves $(or $(HALVES),tune)

.PHONY: bench-long-mono
# Peak memory of a 2-hour mono A-law call through the transcriber (MINUTES=120; needs sox).
bench-long-mono: model sox
	$(BIN)/python benchmarks/bench_long_mono.py --minutes $(or $(MINUTES),120)

.PHONY: bench-gpu
# float16 faster-whisper on a CUDA GPU (RTF, WER, peak GPU memory on the synthetic call and 100 copies; CPU int8
# beside it); exits 2 with a message where there is no CUDA device.
bench-gpu: model
	$(BIN)/python benchmarks/bench_gpu.py

# Scale-out: the nightly flow on 1, 2 and 4 local Dask workers vs the embedded runner (cold and cached transcripts),
# and a rescore of 100k generated conversations with and without token reuse. Heavy: run it once, niced.
.PHONY: bench-scale
bench-scale: model
	nice -n 10 $(BIN)/python benchmarks/bench_scale.py

.PHONY: bench-reliability
# The bad-input matrix: 90 kinds of bad input and faults, each beside good files, through a real `qa run`; per kind
# exit code, message, rows stored and a verdict (targets: 0 crash, 0 wrong, 0 silent), beside the baseline commit.
bench-reliability: model
	$(BIN)/python benchmarks/bench_reliability.py

.PHONY: bench-memory
# Peak memory of transcribing a 1-hour and a 3-hour call, in windows (default) and whole (as before), against the
# 1 GiB budget; MONO=1 adds the calls' mono mixdowns.
bench-memory: model
	nice -n 10 $(BIN)/python benchmarks/bench_memory.py --hours 1 3 $(if $(MONO),--mono)
