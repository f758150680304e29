# multifd-model: `make check` runs the verification matrix, `make test` the tests.
# Both set up what they need first (a .venv with the package, Debian's graphviz).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup graphviz check check-deep test clean

setup: $(STAMP) graphviz

$(STAMP): pyproject.toml
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

check: setup
	$(BIN)/multifd-check matrix

check-deep: setup
	$(BIN)/multifd-check matrix --deep

test: setup
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
