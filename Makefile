# Thin wrappers: every target installs what it needs into $(VENV), then calls
# `python -m helpers ...` or pytest. Works with GNU make 3.81 (macOS) and newer.
#
#   make demo                      run every solution notebook, write build/demo/index.html
#   make demo TOPIC=07             one topic only (several: TOPIC="03 07")
#   make demo REQUIRE_WEIGHTS=1    fail instead of falling back to random weights
#   make test                      the test suite (PYTEST_ARGS="-k demo" to narrow it)
#   make lab                       JupyterLab on notebooks/

PYTHON ?= python3
VENV ?= .venv
VENV_PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LAB_STAMP := $(VENV)/.installed-lab

# Recipes run as if the environment were activated: tools that call other tools by name
# (nbgrader runs `alembic` when it creates its database) find the venv's copies.
export PATH := $(abspath $(VENV))/bin:$(PATH)

TOPIC ?=
PROFILE ?=
REQUIRE_WEIGHTS ?=
DEMO_ARGS ?=
PYTEST_ARGS ?=
ARGS ?=

demo_flags := $(if $(TOPIC),--topic $(TOPIC)) \
              $(if $(PROFILE),--profile $(PROFILE)) \
              $(if $(filter 1 yes true,$(REQUIRE_WEIGHTS)),--require-weights) \
              $(DEMO_ARGS)

.PHONY: help setup demo test lab release grade bench

help:
	@grep '^#   make' Makefile | sed 's/^#   //'

setup: $(STAMP)

$(VENV_PYTHON):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python 3.11 or newer is needed; name one with: make $(MAKECMDGOALS) PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Re-install only when the project's requirements change.
$(STAMP): pyproject.toml | $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install -e '.[dev]'
	@touch $@

$(LAB_STAMP): $(STAMP)
	$(VENV_PYTHON) -m pip install -e '.[dev,lab]'
	@touch $@

demo: $(STAMP)
	$(VENV_PYTHON) -m helpers demo $(demo_flags)

test: $(STAMP)
	$(VENV_PYTHON) -m pytest -q $(PYTEST_ARGS)

lab: $(LAB_STAMP)
	$(VENV)/bin/jupyter lab notebooks/

# The commands below are provided by `python -m helpers`; until a command exists the
# helper CLI says so and lists the commands it has.
release: $(STAMP)
	$(VENV_PYTHON) -m helpers release $(ARGS)

grade: $(STAMP)
	$(VENV_PYTHON) -m helpers grade $(ARGS)

bench: $(STAMP)
	@test -f bench/run.py || { echo "bench/run.py does not exist yet: there are no benchmarks to run."; exit 1; }
	$(VENV_PYTHON) bench/run.py $(ARGS)
