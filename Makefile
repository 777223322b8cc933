# The course's commands (see README.md):
#   make lab                 set up .venv if needed, copy new release notebooks into workspace/ (your
#                            own copies, never overwritten), then open JupyterLab there
#   make reset NB=06         back up your copy of notebook 06 (workspace/backups/), take a fresh one
#   make student-zip         build/cnn-rnn-course-student.zip: student notebooks, course_utils, data,
#                            install files (for Colab or a machine without git; no solutions)
#   make test                set up .venv if needed, then the default suite (<= 5 min on 2 cores):
#                            lint, unit tests, every notebook (fast profile), release checks
#   make test BACKEND=jax    the same notebooks and unit tests under Keras' JAX backend (or torch)
#   make test-slow           the slower tier: every release score check re-run, the grader's and
#                            the download command's notebook-level tests
#   make test-browser        JupyterLab in a real browser (Chromium driven by Playwright): Run All
#                            on 00 and 02, one exercise answered through the UI (about 1 min;
#                            installs Debian's chromium with apt-get when missing, as root)
#   make grading-sandbox     install bubblewrap for the grader's sandbox when missing (apt-get,
#                            as root) and check that it works
#   make test-all            everything .ci/run runs: test, test-slow, test-browser, both other
#                            backends, pins
#   make check-pins          do the pins resolve on every Python version accepted here?
# Each target creates .venv on first use and reuses it; nothing is installed outside the project
# (but make test-browser's chromium and make grading-sandbox's bubblewrap).

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

.PHONY: lab reset student-zip test test-slow test-browser test-all lint check-pins venv clean-venv check-python grading-sandbox

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

# The learner works in workspace/ (git-ignored): copies of release/ made on first run; a later run
# adds new notebooks and never overwrites one the learner changed (course_utils/workspace.py).
# default_url: the URL it prints (and the browser it opens) shows 00_setup.ipynb directly.
lab: $(BACKEND_STAMP)
	@$(BIN)/python -m course_utils.workspace sync
	@echo "Your notebooks: $(CURDIR)/workspace (your own copies; the course never overwrites them)"
	@KERAS_BACKEND=$(BACKEND) $(BIN)/jupyter lab $(ROOT_FLAG) --port=$(PORT) --ServerApp.root_dir="$(CURDIR)/workspace" \
		--LabApp.default_url=/lab/tree/00_setup.ipynb

reset: $(STAMP)
	@test -n "$(NB)" || { echo "Say which notebook: make reset NB=06 (your copy goes to workspace/backups/)" >&2; exit 2; }
	@$(BIN)/python -m course_utils.workspace reset "$(NB)"

student-zip: $(STAMP)
	@$(BIN)/python -m course_utils.workspace student-zip --out build/cnn-rnn-course-student.zip

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

# The browser test (tests/browser/run_lab_ui.py, not collected by pytest): a throw-away workspace
# in build/browser-test/, JupyterLab on a free loopback port, Debian's Chromium driven by Playwright
# (requirements-browser.txt, installed only here). Never `playwright install`: it downloads a
# browser of its own. Screenshots: build/browser-test/screenshots/.
CHROMIUM ?= /usr/bin/chromium
BROWSER_STAMP := $(VENV)/.installed-browser

$(BROWSER_STAMP): requirements-browser.txt $(STAMP)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-browser.txt
	@touch $@

test-browser: $(BROWSER_STAMP)
	@test -x "$(CHROMIUM)" || { \
		if [ "$$(id -u)" != 0 ]; then echo "make test-browser needs Chromium at $(CHROMIUM): install it \
	(Debian/Ubuntu: sudo apt-get install -y chromium) or run make test-browser CHROMIUM=/path/to/chromium" >&2; exit 1; fi; \
		command -v apt-get >/dev/null || { echo "No Chromium at $(CHROMIUM) and no apt-get: install Chromium \
	and run make test-browser CHROMIUM=/path/to/chromium" >&2; exit 1; }; \
		echo "Installing Debian's chromium (apt-get) ..."; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; } || exit 1; \
		test -x "$(CHROMIUM)" || { echo "chromium installed, but not at $(CHROMIUM): pass CHROMIUM=..." >&2; exit 1; }; }
	KERAS_BACKEND=tensorflow $(BIN)/python tests/browser/run_lab_ui.py --chromium "$(CHROMIUM)"

# The grader runs student code in a bubblewrap sandbox (course_utils/grading/isolation.py);
# without bwrap it grades unisolated and flags every row. CI installs it (Debian's bubblewrap,
# apt-get as root) and then requires it (COURSE_REQUIRE_ISOLATION=1 makes the attack tests fail
# instead of skipping).
grading-sandbox:
	@command -v bwrap >/dev/null || { \
		if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then echo "bubblewrap (bwrap) is \
	missing: install it (Debian/Ubuntu: sudo apt-get install -y bubblewrap)" >&2; exit 1; fi; \
		echo "Installing Debian's bubblewrap (apt-get) ..."; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q bubblewrap || { apt-get update -q && apt-get install -y -q bubblewrap; } \
			|| exit 1; }
	@bwrap --unshare-all --die-with-parent --ro-bind / / --proc /proc --dev /dev true || { \
		echo "bwrap is installed but cannot create namespaces here (user namespaces disabled?)" >&2; \
		exit 1; }
	@echo "bubblewrap works: grading runs isolated"

test-all:
	$(MAKE) --no-print-directory grading-sandbox
	$(MAKE) --no-print-directory test
	$(MAKE) --no-print-directory test-browser
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
