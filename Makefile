# `make test` and `make book` each create the virtualenv they need (.venv) on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed-stamp

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -r requirements.txt -e .
	touch $(STAMP)

.PHONY: venv test book smoke bench bench-full bench-train
venv: $(STAMP)

# Unit tests, nbval on every smoke execution (tests/notebooks), the -W book build and the browser check.
test: $(STAMP)
	$(VENV)/bin/python -m pytest tests --nbval-lax --nbval-current-env

# Execute every notebook at preset `book` (skipping unchanged ones), then build the HTML with -W.
book: $(STAMP)
	$(VENV)/bin/python -m gradconf book --preset book

smoke: $(STAMP)
	$(VENV)/bin/python -m gradconf book --preset smoke --no-build

# Gram-engine costs as ratios to one forward+backward, side by side with torch.func (and Opacus, BackPACK where
# installed); the default stays under 4 GB, bench-full runs the baselines up to 13 GiB (see the script).
bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_gram.py

bench-full: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_gram.py --full

# Training throughput of CNN-16-2 (issue 17): eager vs project loop, k concurrent runs, measurement costs, targets.
bench-train: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_train.py
