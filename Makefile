# Thin wrappers: every target installs what it needs into $(VENV), then calls
# `python -m instructor ...` or pytest. Works with GNU make 3.81 (macOS) and newer.
#
#   make demo                      run every solution notebook, write build/demo/index.html
#   make demo TOPIC=07             one topic only (several: TOPIC="03 07")
#   make demo REQUIRE_WEIGHTS=1    fail instead of falling back to random weights
#   make test                      the test suite on 2 workers (TEST_WORKERS=0: one process; PYTEST_ARGS="-k demo")
#   make lab                       JupyterLab on notebooks/ (lecturers: make lab LAB_DIR=solutions)
#   make release                   regenerate notebooks/ from solutions/, write dist/<name>-student.zip
#   make grade SUBMISSIONS=dir     autograde submitted/ or an LMS download (WORKERS=2 TIMEOUT=60 OUT=dir)
#   make bench                     all benchmarks, rewrite BENCHMARKS.md (ARGS="gatys" for one)
#   make check-weights             with ImageNet weights cached: check trained behaviour, write build/check-weights/index.html
#   make check-weights WEIGHTS=random   the same run with seeded random weights (proves only that it runs; TOPIC="02 07")

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
LAB_DIR ?= notebooks
LAB_ARGS ?=
PYTEST_ARGS ?=
TEST_WORKERS ?= 2
ARGS ?=
SUBMISSIONS ?=
WORKERS ?=
TIMEOUT ?=
WEIGHTS ?=
OUT ?=

demo_flags := $(if $(TOPIC),--topic $(TOPIC)) \
              $(if $(PROFILE),--profile $(PROFILE)) \
              $(if $(filter 1 yes true,$(REQUIRE_WEIGHTS)),--require-weights) \
              $(DEMO_ARGS)

grade_flags := $(if $(WORKERS),--workers $(WORKERS)) \
               $(if $(TIMEOUT),--timeout $(TIMEOUT)) \
               $(if $(OUT),--out $(OUT)) \
               $(if $(TOPIC),--topics $(TOPIC)) \
               $(ARGS)

check_flags := $(if $(WEIGHTS),--weights $(WEIGHTS)) \
               $(if $(TOPIC),--topics $(TOPIC)) \
               $(if $(OUT),--out $(OUT)) \
               $(ARGS)

.PHONY: help setup demo test lab release grade bench check-weights

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
	$(VENV_PYTHON) -m instructor demo $(demo_flags)

# The linter first (ruff, configured in pyproject.toml), then the test files on TEST_WORKERS
# processes (pytest-xdist, one file per worker at a time, so a file's shared fixtures are built
# once); tests/conftest.py splits the CPU's threads between them. TEST_WORKERS=0: one process.
test: $(STAMP)
	$(VENV_PYTHON) -m ruff check helpers instructor tests bench
	$(VENV_PYTHON) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The venv's own jupyter, so the notebooks' "python3" kernel is this venv's interpreter
# (its kernel spec lives in $(VENV)/share/jupyter/kernels, searched first).
lab: $(LAB_STAMP)
	$(VENV_PYTHON) -m jupyter kernelspec list | grep -q "$(abspath $(VENV))/share/jupyter/kernels/python3" || \
	  $(VENV_PYTHON) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)"
	$(VENV_PYTHON) -m jupyter lab --ServerApp.root_dir=$(LAB_DIR) $(LAB_ARGS)

release: $(STAMP)
	$(VENV_PYTHON) -m instructor release --bundle $(ARGS)

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "name the submissions: make grade SUBMISSIONS=path/to/submitted (or an LMS .zip)"; exit 1; }
	$(VENV_PYTHON) -m instructor grade $(SUBMISSIONS) $(grade_flags)

bench: $(STAMP)
	$(VENV_PYTHON) bench/run.py $(ARGS)

check-weights: $(STAMP)
	$(VENV_PYTHON) -m instructor check-weights $(check_flags)
