# `make test` and `make book` each create the virtualenv they need (.venv) on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed-stamp

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -r requirements.txt -e .
	touch $(STAMP)

.PHONY: venv test book bench
venv: $(STAMP)

test: $(STAMP)
	$(VENV)/bin/python -m pytest tests

book: $(STAMP)
	$(VENV)/bin/python -m gradconf run mlp_depth --preset smoke --store results

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_gram.py
