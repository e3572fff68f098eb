# w2s-vqa: `make demo` and `make test` work on a fresh machine (they set up first).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUN    ?= runs/demo
POOL_N ?= 64
STAMP  := $(VENV)/.installed
DEMO_PORT ?= 8000

.PHONY: setup demo test test-fast bench lint docs clean help

help:
	@echo "make setup   create $(VENV) and install (torch CPU build first, then the lock)"
	@echo "make demo    build the sample pool, run every pipeline stage on it ($(RUN)), the run report, then the scoring service"
	@echo "make test    run the whole test suite (slow cluster tests included)"
	@echo "make bench   run the benchmarks, results in bench/results/"
	@echo "make lint    ruff"
	@echo "make docs    regenerate docs/config.md from w2s/config.py"

setup: $(STAMP)

# torch goes in first and pinned, so nothing pulls a CUDA build; then the lock file.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip setuptools wheel
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -c constraints.txt -e ".[decord,dev]"
	$(BIN)/python -m w2s.student.dsops   # DeepSpeed's CPU comm op, compiled once into $(VENV)
	touch $(STAMP)

CONFIG ?= configs/demo.yaml
export RAY_AUTH_MODE ?= disabled

demo: setup
	$(BIN)/w2s sample-pool --n $(POOL_N) --out $(RUN)/pool
	$(BIN)/python -m ray_jobs all --config $(CONFIG) --set run_dir=$(RUN)/run --set manifest=$(RUN)/pool/manifest.parquet
	$(BIN)/w2s report $(RUN)/run
	$(BIN)/python -m serve.demo --run-dir $(RUN)/run --port $(DEMO_PORT)

# two pytest-xdist workers, one module each at a time (module fixtures are built once); the
# session's pool and stage-1 chain are built once and shared (tests/conftest.py once_per_run)
TEST_WORKERS ?= 2
test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

bench: setup
	$(BIN)/python bench/decode.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/stages.py
	$(BIN)/python bench/progress.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/scoring.py
	$(BIN)/python bench/learning.py
	$(BIN)/python bench/ablation.py --run-dir $(RUN)/run
	$(BIN)/python bench/evaluate.py
	$(BIN)/python bench/unit_costs.py
	$(BIN)/python bench/fixed_costs.py

lint: setup
	$(BIN)/ruff check w2s ray_jobs serve bench tests

docs: setup  # the generated config reference (tests/test_config.py checks it is current)
	$(BIN)/python -m w2s.configref > docs/config.md

clean:
	rm -rf $(RUN) .pytest_cache
