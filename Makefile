# Two commands for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export OPENBLAS_NUM_THREADS := 1

.PHONY: install browser model demo test lint rule-tests bench bench-text bench-asr bench-queries bench-redact clean samples

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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
COPIES ?= 3000
CONVERSATIONS ?=
bench-queries: model
	nice -n 10 $(BIN)/python benchmarks/bench_queries.py $(if $(CONVERSATIONS),--conversations $(CONVERSATIONS),--copies $(COPIES))

bench-redact: install
	$(BIN)/python benchmarks/bench_redact.py

# Accuracy of the checks on tests/fixtures/eval (tune and untouched holdout halves).
.PHONY: bench-accuracy
bench-accuracy: install
	$(BIN)/python benchmarks/bench_accuracy.py

# Regenerates the bundled samples and fixtures (needs Debian's festival, festvox-ru and sox).
samples: install
	$(BIN)/python tools/make_samples.py

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
# Peak memory of transcribing a 1-hour and a 3-hour call, in windows (default) and whole (as before).
bench-memory: model
	nice -n 10 $(BIN)/python benchmarks/bench_memory.py --hours 1 3
