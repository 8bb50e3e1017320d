# askpanel: `make run` serves the web chat, `make test` runs every check. Both install first.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install run test lint eval bench bench-ingest load clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first: a plain `torch` requirement would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $@

run: install
	$(PY) app.py

lint: install
	$(VENV)/bin/ruff check src tests benchmarks scripts ingest.py app.py
	$(VENV)/bin/ruff format --check src tests benchmarks scripts ingest.py app.py
	$(VENV)/bin/mypy src

test: install lint
	# pytest exits 5 when it collects no tests: that is not a failure of the suite
	$(PY) -m pytest -q || [ $$? -eq 5 ]

eval: install
	$(PY) -m askpanel eval

bench: install  # ingest throughput, then answer latency / memory / cold start from 1x to 100k chunks
	$(PY) benchmarks/bench_ingest.py
	$(PY) benchmarks/bench.py

bench-ingest: install
	$(PY) benchmarks/bench_ingest.py

load: install
	$(PY) benchmarks/load.py

clean:
	rm -rf $(VENV) .askpanel .pytest_cache .mypy_cache .ruff_cache
