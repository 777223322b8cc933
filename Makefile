# The course's commands (see README.md):
#   make lab                 set up .venv if needed, then open JupyterLab on the course
#   make test                set up .venv if needed, then the default suite (<= 5 min on 2 cores):
#                            lint, unit tests, every notebook (fast profile), release checks
#   make test BACKEND=jax    the same notebooks and unit tests under Keras' JAX backend (or torch)
#   make test-slow           the slower tier: every release score check re-run, the grader's and
#                            the download command's notebook-level tests
#   make test-all            everything .ci/run runs: test, test-slow, both other backends, pins
#   make check-pins          do the pins resolve on every Python version accepted here?
# Each target creates .venv on first use and reuses it; nothing is installed outside the project.

PYTHON  ?= python3
BACKEND ?= tensorflow
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# JupyterLab refuses to start as root without this flag.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
# Two workers; conftest.py's scheduler keeps each notebook in one kernel and starts the longest first.
JOBS ?= 2
PORT ?= 8888
PYTEST := $(BIN)/python -m pytest -n $(JOBS) --dist loadscope
# Python versions the pins are checked on (make check-pins); the Makefile accepts 3.10-3.13.
PIN_PYTHONS := 3.10 3.11.2 3.11 3.12 3.13
PIN_PLATFORMS := x86_64-manylinux_2_28 aarch64-apple-darwin x86_64-pc-windows-msvc
UV_VERSION := 0.13.9

ifeq ($(filter $(BACKEND),tensorflow jax torch),)
$(error BACKEND must be tensorflow, jax or torch, not '$(BACKEND)')
endif
BACKEND_STAMP := $(VENV)/.installed-$(BACKEND)

.PHONY: lab test test-slow test-all lint check-pins venv clean-venv check-python

check-python:
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; \
	ok = (3, 10) <= v <= (3, 13); \
	sys.exit(0 if ok else "Python 3.10-3.13 is needed (the pins are tested on 3.11 and resolve on 3.10-3.13); this is " + sys.version.split()[0] + ". Run: make PYTHON=python3.11 ...")'
	@if [ "$(BACKEND)" = jax ]; then $(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "BACKEND=jax needs Python 3.11 or newer (JAX 0.10 supports no older one); this is " + sys.version.split()[0])'; fi

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(MAKE) --no-print-directory check-python BACKEND=tensorflow
	@echo "Installing the course's pinned packages into $(VENV) (Python $$($(PYTHON) -c 'import platform; print(platform.python_version())')) ..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)
	@echo "Environment ready in $(VENV)."

$(VENV)/.installed-tensorflow: $(STAMP)
	@touch $@

$(VENV)/.installed-jax: requirements-jax.txt $(STAMP)
	@$(MAKE) --no-print-directory check-python BACKEND=jax
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-jax.txt
	@touch $@

# PyPI's Linux torch wheels are CUDA builds (several GB); the CPU build comes from PyTorch's own
# index. A machine that cannot reach it falls back to what pip finds elsewhere.
$(VENV)/.installed-torch: requirements-torch.txt $(STAMP)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-torch.txt \
		$(if $(filter Linux,$(shell uname -s)),--extra-index-url https://download.pytorch.org/whl/cpu,)
	@touch $@

lab: $(BACKEND_STAMP)
	KERAS_BACKEND=$(BACKEND) $(BIN)/jupyter lab $(ROOT_FLAG) --port=$(PORT) --ServerApp.root_dir="$(CURDIR)" notebooks/00_setup.ipynb

lint: $(STAMP)
	$(BIN)/ruff format --check course_utils tests benchmarks
	$(BIN)/ruff check course_utils tests benchmarks

# tensorflow: lint, then everything but the slow tier (release score checks use their recorded
# verdicts, see tests/test_course_release.py). jax/torch: the notebooks and the unit tests under
# that backend; the release score checks are the grader's business and run under tensorflow.
test: $(BACKEND_STAMP)
ifeq ($(BACKEND),tensorflow)
	@$(MAKE) --no-print-directory lint
	COURSE_PROFILE=fast KERAS_BACKEND=tensorflow $(PYTEST) -m "not slow"
else
	COURSE_PROFILE=fast KERAS_BACKEND=$(BACKEND) $(PYTEST) -m "not slow and not release_score"
endif

test-slow: $(STAMP)
	COURSE_PROFILE=fast KERAS_BACKEND=tensorflow COURSE_RELEASE_VERDICTS=recheck \
		$(PYTEST) -m "slow or release_score" tests course_utils

test-all:
	$(MAKE) --no-print-directory test
	$(MAKE) --no-print-directory test-slow
	$(MAKE) --no-print-directory test BACKEND=jax
	$(MAKE) --no-print-directory test BACKEND=torch
	$(MAKE) --no-print-directory check-pins

# Resolve (no install) the pins for every Python version above: requirements.txt on Linux, macOS
# (Apple silicon, macOS 14+, which torch 2.13 needs) and Windows; the backend files on Linux.
check-pins: $(STAMP)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --disable-pip-version-check -q uv==$(UV_VERSION)
	@export MACOSX_DEPLOYMENT_TARGET=14.0; \
	resolve() { $(BIN)/uv pip compile -q --no-header --python-version $$1 --python-platform $$2 $$3 -c requirements.txt -o /dev/null \
		|| { echo "$$3 does not resolve on Python $$1 ($$2)"; return 1; }; }; \
	one() { for p in $(PIN_PLATFORMS); do resolve $$1 $$p requirements.txt || return 1; done; \
		resolve $$1 x86_64-manylinux_2_28 requirements-torch.txt || return 1; \
		case $$1 in 3.10) ;; *) resolve $$1 x86_64-manylinux_2_28 requirements-jax.txt || return 1;; esac; \
		echo "pins resolve: Python $$1 (requirements.txt on $(PIN_PLATFORMS); jax and torch on Linux)"; }; \
	pids=""; for v in $(PIN_PYTHONS); do one $$v & pids="$$pids $$!"; done; \
	status=0; for pid in $$pids; do wait $$pid || status=1; done; exit $$status

clean-venv:
	rm -rf $(VENV)
