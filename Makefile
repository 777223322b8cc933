# The course's two commands (see README.md):
#   make lab    set up .venv if needed, then open JupyterLab on the course (notebooks/00 first)
#   make test   set up .venv if needed, then run every test: unit tests + every notebook (fast profile)
# Both create .venv on first use and reuse it; nothing is installed outside the project.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# JupyterLab refuses to start as root without this flag.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
# Two workers, one notebook per worker (--dist loadfile keeps a notebook's cells in one kernel).
JOBS ?= 2
PORT ?= 8888

.PHONY: lab test venv clean-venv

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if (3, 10) <= v[:2] <= (3, 13) else "Python 3.10-3.13 is needed (3.11 is what requirements.txt was tested with); this is " + sys.version.split()[0] + ". Run: make PYTHON=python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)
	@echo "Environment ready in $(VENV)."

lab: $(STAMP)
	$(BIN)/jupyter lab $(ROOT_FLAG) --port=$(PORT) --ServerApp.root_dir="$(CURDIR)" notebooks/00_setup.ipynb

test: $(STAMP)
	COURSE_PROFILE=fast $(BIN)/python -m pytest -n $(JOBS) --dist loadfile

clean-venv:
	rm -rf $(VENV)
