# Two commands: `make run` (set up + start the app) and `make test` (set up + run the tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test setup lint benchmark chromium clean

run: $(RUN_STAMP)
	$(PY) app.py

test: $(DEV_STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)

setup: $(DEV_STAMP)

lint: $(DEV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Benchmarks write JSON to benchmarks/results/. Point them at local copies with ESC50=... YAMNET=...
ESC50 ?= $(or $(ANIMAL_AUDIO_ESC50),../shared/esc50)
YAMNET ?= $(or $(ANIMAL_AUDIO_YAMNET),../shared/models/yamnet/yamnet.tflite)
benchmark: $(DEV_STAMP)
	$(PY) -m benchmarks.accuracy --esc50-dir $(ESC50) --yamnet $(YAMNET)
	$(PY) -m benchmarks.latency --esc50-dir $(ESC50) --yamnet $(YAMNET)
	$(PY) -m benchmarks.app_cold_start --esc50-dir $(ESC50) --yamnet $(YAMNET)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUN_STAMP): requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt $(RUN_STAMP)
	$(PY) -m pip install -r requirements-dev.txt
	touch $@

# Debian's Chromium for the browser test (Playwright's own browser download does not work offline).
chromium:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium fonts-noto-color-emoji)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
