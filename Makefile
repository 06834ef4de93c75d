# Quick start: `make demo` and `make test` each create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/runner demo

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(VENV)/.installed
	bash bench/install_nginx.sh
	$(BIN)/python bench/run.py
	$(BIN)/python bench/html_report.py
	$(BIN)/python bench/lean.py
	$(BIN)/python -m pip install -q -e '.[load]'
	$(BIN)/python bench/load_cpu.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis bench/out
