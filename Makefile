# The two commands: `make demo` runs the product, `make test` runs the tests.
# Both start with `make install`, which sets up everything on a fresh Debian 12 machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBIAN_PACKAGES := prometheus prometheus-alertmanager
# the report's browser test drives Debian's chromium (no browser download)
BROWSER_PACKAGES := chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test lint unit integration bench fuzz soak clean

install: $(VENV)/.installed $(VENV)/.kernel .cashless/cache/.kafka-fetched
	@command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null || { \
	  echo "installing Debian packages: $(DEBIAN_PACKAGES)"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEBIAN_PACKAGES) \
	  || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEBIAN_PACKAGES); }; }
	@command -v chromium >/dev/null || { \
	  echo "installing Debian packages: $(BROWSER_PACKAGES)"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(BROWSER_PACKAGES) \
	  || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(BROWSER_PACKAGES); }; }
	@command -v java >/dev/null && command -v mvn >/dev/null || { \
	  echo "installing Java 17 and Maven"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openjdk-17-jre-headless maven; }

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The compiled kernel of the payment ledger (Rust, built by maturin with the machine's cargo).
KERNEL_SOURCES := kernel/Cargo.toml kernel/Cargo.lock kernel/pyproject.toml \
	kernel/cashless_kernel.pyi $(wildcard kernel/src/*.rs)

$(VENV)/.kernel: $(VENV)/.installed $(KERNEL_SOURCES)
	@command -v cargo >/dev/null || { \
	  echo "building the kernel needs Rust's cargo: apt-get install cargo (or rustup.rs)"; exit 1; }
	$(BIN)/pip install -q ./kernel
	touch $@

.cashless/cache/.kafka-fetched: $(VENV)/.installed ops/kafka/pom.xml
	$(BIN)/cashless stack fetch
	touch $@

demo: install
	$(BIN)/cashless demo

test: install lint
	PYO3_PYTHON=$(abspath $(BIN)/python) cargo test -q --manifest-path kernel/Cargo.toml --no-default-features
	$(BIN)/pytest -q

lint: $(VENV)/.installed $(VENV)/.kernel
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(VENV)/.installed $(VENV)/.kernel
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
	$(BIN)/python -m bench.pipeline --peer-python $(BENCH_VENV)/bin/python $(if $(BENCH_QUICK),--quick)

# Long fuzz runs, not part of `make test` (about 15 minutes): the parser properties with
# FUZZ_EXAMPLES examples each, atheris on the decoder (skipped, said so, if it does not install),
# and schemathesis against a real gateway and Kafka with FUZZ_API_EXAMPLES per operation, mode
# and credential. Each step prints how many inputs it tried.
FUZZ_EXAMPLES ?= 10000
FUZZ_ATHERIS_RUNS ?= 300000
FUZZ_API_EXAMPLES ?= 300

fuzz: install
	CASHLESS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider tests/unit/test_parser_fuzz.py
	@if $(BIN)/pip install -q -e '.[fuzz]'; then \
	  $(BIN)/python -m fuzz.fuzz_decoder -runs=$(FUZZ_ATHERIS_RUNS) -dict=fuzz/event.dict -print_final_stats=1; \
	else echo "atheris does not install on this machine: its run is skipped"; fi
	CASHLESS_FUZZ_API_EXAMPLES=$(FUZZ_API_EXAMPLES) $(BIN)/pytest -q -s -p no:cacheprovider tests/integration/test_gateway_fuzz.py

# Soak, not part of `make test` (SOAK_MINUTES, default 30, plus a few minutes of set-up and
# checks): one worker at SOAK_RATE live events/s, killed with SIGKILL and restarted halfway;
# RSS and open FDs flat, consumer lag bounded, /metrics equal to the ground truth at the end.
# Non-zero exit when a check fails; samples and summary in .cashless/soak/.
SOAK_MINUTES ?= 30
SOAK_RATE ?= 500

soak: install
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES) --rate $(SOAK_RATE)

clean:
	-$(BIN)/cashless stack down --purge
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
