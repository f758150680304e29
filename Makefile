# multifd-model: `make check` runs the verification matrix, `make test` the tests.
# Both set up what they need first (a .venv with the package, Debian's graphviz).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup graphviz chromium mermaid check check-deep test diagrams bench bench-quick clean qemu \
        conformance fixtures repro-p1 repro-p2 patched-qemu

setup: $(STAMP) graphviz

$(STAMP): pyproject.toml setup.py checks/engine/_core.pyx
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

# graphviz's `dot` renders the diagrams; as root we install it, else we say how.
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	  else \
	    echo "note: graphviz's dot is missing; install it with: sudo apt-get install graphviz"; \
	  fi; }

# Debian's chromium opens the review page in the tests (headless); as root we install it.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium >/dev/null; \
	  else \
	    echo "note: chromium is missing (the review-page test will skip): sudo apt-get install chromium"; \
	  fi; }

# Mermaid's own renderer, for the test that draws every .mmd in headless chromium (needs npm;
# without it that test skips and says so).
MERMAID := build/mermaid/node_modules/mermaid/dist/mermaid.min.js
mermaid:
	@test -f $(MERMAID) || { \
	  if command -v npm >/dev/null 2>&1; then \
	    npm install --silent --no-audit --no-fund --prefix build/mermaid mermaid@12.3.0 >/dev/null \
	      || echo "note: npm could not install mermaid (the Mermaid render test will skip)"; \
	  else \
	    echo "note: npm is missing (the Mermaid render test will skip): sudo apt-get install npm"; \
	  fi; }

check: setup
	$(BIN)/multifd-check matrix

check-deep: setup
	$(BIN)/multifd-check matrix --deep

test: setup chromium mermaid
	$(BIN)/pytest

# Speed and memory per reduction (each run in its own process, bounded; not run by CI).
bench: setup
	$(BIN)/python -m checks.bench --seconds=120 --json=out/bench.json
	$(BIN)/python -m checks.bench_trace --lines=200000 --json=out/bench-trace.json

bench-quick: setup
	$(BIN)/python -m checks.bench --quick --json=out/bench-quick.json
	$(BIN)/python -m checks.bench_trace --lines=20000 --json=out/bench-trace-quick.json

# The review page: diagrams/index.html, thread diagrams, counterexample charts (about 45 s).
diagrams: setup
	$(BIN)/multifd-check diagrams --out diagrams

# Real QEMU (TCG, loopback only): 7.2 from Debian, 10.0 unpacked from bookworm-backports
# into .qemu/ (root and apt needed to fetch; see harness/qemu.py).
qemu: setup
	$(BIN)/python -m harness fetch

# BUILD=patched: conformance and the reproducers on QEMU 10.0.2 built with the series in
# patches/ (make patched-qemu, about 9 min; docs/upstream.md). There every P1 and P2 run
# must fail cleanly; RUNS=k repeats each fault setting k times.
BUILD ?= 10.0
PATCHED_DEP := $(if $(filter patched,$(BUILD)),patched-qemu)
HARNESS_BUILD := --build $(BUILD) $(if $(RUNS),--runs $(RUNS))

patched-qemu: qemu
	sh harness/build-patched-qemu.sh

conformance: qemu $(PATCHED_DEP)
	$(BIN)/python -m harness conformance --out out/conformance \
	  $(if $(PATCHED_DEP),--versions 10.0-patched)

fixtures: qemu
	$(BIN)/python -m harness conformance --out out/conformance --fixtures tests/fixtures/traces

repro-p1: setup $(PATCHED_DEP)
	$(BIN)/python -m harness repro-p1 --out out/repro-p1 $(HARNESS_BUILD)

repro-p2: setup $(PATCHED_DEP)
	$(BIN)/python -m harness repro-p2 --out out/repro-p2 $(HARNESS_BUILD)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info out
