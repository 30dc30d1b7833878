# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv on first use and reinstalls only when pyproject.toml or constraints.txt change.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[all,test]"
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/eoxr demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest

# The notebooks at full size, as users run them (marker "full", left out of `make test`).
test-full: $(BIN)/.installed
	$(BIN)/python -m pytest -m full

.PHONY: install demo test test-full
