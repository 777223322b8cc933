"""The course's own notebooks as assignments: the committed release/ folder is current and leaks
nothing, and in the real grader each instructor version scores full marks while its blank
student version scores zero.

The score check costs about two fast-profile runs of the notebook (reference and blank, in the
grader). Its verdict is kept in ``tests/release_verdicts/<notebook>.json`` (committed), keyed on
the SHA-256 of everything the verdict depends on: the notebook, every ``course_utils`` source file
(the grader and the helpers the notebook calls), ``requirements.txt``, the grader's limits and the
Keras backend. ``make test`` re-runs the check only for a notebook whose key changed (a missing or
stale verdict), and records the new verdict when it passes. ``make test-slow`` (run by ``.ci/run``)
sets ``COURSE_RELEASE_VERDICTS=recheck``: every notebook is graded again, whatever is recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from course_utils.cache import atomic_write
from course_utils.grading.assignment import has_exercises, load_assignment
from course_utils.grading.release import release_problems, score_problems
from course_utils.grading.sandbox import Limits

from conftest import NOTEBOOKS, ROOT

VERDICTS = ROOT / "tests" / "release_verdicts"
VERDICTS_ENV = "COURSE_RELEASE_VERDICTS"  # "use" (default) or "recheck"
COURSE_WITH_EXERCISES = [p for p in NOTEBOOKS if has_exercises(p)]


def test_every_course_notebook_has_exercises():
    assert [p.name for p in COURSE_WITH_EXERCISES] == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("notebook", COURSE_WITH_EXERCISES, ids=lambda p: p.stem)
def test_release_folder_is_up_to_date_and_leak_free(notebook, tmp_path):
    """CI: `python -m course_utils.grading release` was run after the last notebook change."""
    single = tmp_path / "src"
    single.mkdir()
    (single / notebook.name).write_bytes(notebook.read_bytes())
    assert release_problems(single, ROOT / "release") == []


def verdict_key(notebook: Path, limits: Limits) -> str:
    """SHA-256 over everything a score verdict depends on."""
    digest = hashlib.sha256()
    digest.update(notebook.name.encode() + b"\0" + notebook.read_bytes() + b"\0")
    sources = sorted((ROOT / "course_utils").rglob("*.py"))
    for path in [*sources, ROOT / "requirements.txt"]:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    digest.update(f"limits={limits.key()};backend={backend}".encode())
    return digest.hexdigest()


def recorded_verdict(notebook: Path) -> dict:
    path = VERDICTS / f"{notebook.stem}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@pytest.mark.release_score
@pytest.mark.parametrize("notebook", COURSE_WITH_EXERCISES, ids=lambda p: p.stem)
def test_course_reference_solution_scores_full_and_blank_scores_zero(notebook):
    limits = Limits()
    key = verdict_key(notebook, limits)
    mode = os.environ.get(VERDICTS_ENV, "use").strip().lower()
    if mode not in ("use", "recheck"):
        pytest.fail(f"{VERDICTS_ENV} must be 'use' or 'recheck', got {mode!r}")
    if mode == "use" and recorded_verdict(notebook).get("key") == key:
        return  # graded with exactly these files before, and passed (make test-slow re-checks)
    start = time.monotonic()
    assert score_problems(load_assignment(notebook), limits) == []
    VERDICTS.mkdir(exist_ok=True)
    record = {
        "notebook": notebook.name,
        "key": key,
        "verdict": "reference scores full marks, blank scores zero",
        "seconds": round(time.monotonic() - start, 1),
    }
    atomic_write(VERDICTS / f"{notebook.stem}.json", json.dumps(record, indent=1) + "\n")


def test_verdict_key_changes_with_what_the_verdict_depends_on(tmp_path, monkeypatch):
    notebook = COURSE_WITH_EXERCISES[0]
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    base = verdict_key(notebook, Limits())
    assert verdict_key(notebook, Limits()) == base
    assert verdict_key(notebook, Limits(memory_mb=1024)) != base
    edited = tmp_path / notebook.name
    edited.write_bytes(notebook.read_bytes() + b" ")
    assert verdict_key(edited, Limits()) != base
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert verdict_key(notebook, Limits()) != base
