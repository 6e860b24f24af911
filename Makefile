# The two commands: `make demo` runs the product, `make test` runs the tests.
# Both start with `make install`, which sets up everything on a fresh Debian 12 machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBIAN_PACKAGES := prometheus prometheus-alertmanager
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test lint unit integration bench clean

install: $(VENV)/.installed .cashless/cache/.kafka-fetched
	@command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null || { \
	  echo "installing Debian packages: $(DEBIAN_PACKAGES)"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEBIAN_PACKAGES) \
	  || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEBIAN_PACKAGES); }; }
	@command -v java >/dev/null && command -v mvn >/dev/null || { \
	  echo "installing Java 17 and Maven"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openjdk-17-jre-headless maven; }

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

.cashless/cache/.kafka-fetched: $(VENV)/.installed ops/kafka/pom.xml
	$(BIN)/cashless stack fetch
	touch $@

demo: install
	$(BIN)/cashless demo

test: install lint
	$(BIN)/pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(VENV)/.installed
	$(BIN)/pytest -q tests/unit

integration: install
	$(BIN)/pytest -q tests/integration

# Benchmarks, not part of `make test`: `make bench` (about 8 minutes), `make bench BENCH_QUICK=1`.
# The peer (Quix Streams) caps pydantic below the project's version, so it gets its own venv.
BENCH_VENV := $(VENV)/bench-peer

$(BENCH_VENV)/.installed: pyproject.toml $(VENV)/.installed
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --upgrade pip
	$(BENCH_VENV)/bin/pip install -q -e '.[bench]'
	touch $@

bench: install $(BENCH_VENV)/.installed
	$(BIN)/python bench/pipeline.py --peer-python $(BENCH_VENV)/bin/python $(if $(BENCH_QUICK),--quick)

clean:
	-$(BIN)/cashless stack down --purge
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
