# Everything a fresh machine needs: `make run` and `make test` create .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast lint bench clean interop-clients core

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The optional compiled core (DESIGN principle 19), built in place beside its .pyx: the
# editable install builds it, this step rebuilds a kernel whose build is missing or older
# than its .pyx or a .pxi that .pyx includes (else a no-op).
# Without a C compiler it warns and rocketq runs in pure Python.
core: $(STAMP)
	$(BIN)/python hatch_build.py --inplace

run: $(STAMP) core
	$(BIN)/rocketq dev

lint: $(STAMP) core
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src

# The real RocketMQ clients the interop tests drive: the C++ client (PyPI rocketmq==0.4.4)
# in its own venv under .cache/interop, and ali-ons from tests/interop/js/package-lock.json.
interop-clients: $(STAMP)
	$(BIN)/python tests/interop/setup_clients.py

test: lint interop-clients
	$(BIN)/pytest

# The quick loop while working (under a minute on 2 cores): no process kills, nothing over
# ~3 s, no third-party clients. `make test` still runs everything.
test-fast: $(STAMP) core
	$(BIN)/pytest -m "not slow and not interop"

bench: $(STAMP) core
	$(BIN)/python benchmarks/codec_bench.py
	$(BIN)/python benchmarks/server_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .cache/interop tests/interop/js/node_modules
