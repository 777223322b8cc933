"""The course's own notebooks as assignments: the committed release/ folder is current and leaks
nothing, and in the real grader each instructor version scores full marks while its blank
student version scores zero.

Kept apart from tests/test_grading.py (the grader's own tests) because these are slow, about one
fast-profile run of every notebook with exercises: with ``make test``'s ``--dist loadfile`` each file
runs on one worker, so the two files run side by side.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_utils.grading.assignment import load_assignment, nbgrader_role
from course_utils.grading.release import release_problems, score_problems
from course_utils.grading.sandbox import Limits

from conftest import NOTEBOOKS, ROOT


def _has_exercises(path: Path) -> bool:
    try:
        return any(nbgrader_role(c) == "test" for c in nbformat.read(path, as_version=4).cells)
    except Exception:  # unreadable: keep it, so its release test says what is wrong
        return True


COURSE_WITH_EXERCISES = [p for p in NOTEBOOKS if _has_exercises(p)]


def test_every_course_notebook_has_exercises():
    assert [p.name for p in COURSE_WITH_EXERCISES] == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("notebook", COURSE_WITH_EXERCISES, ids=lambda p: p.stem)
def test_release_folder_is_up_to_date_and_leak_free(notebook, tmp_path):
    """CI: `python -m course_utils.grading release` was run after the last notebook change."""
    single = tmp_path / "src"
    single.mkdir()
    (single / notebook.name).write_bytes(notebook.read_bytes())
    assert release_problems(single, ROOT / "release") == []


@pytest.mark.parametrize("notebook", COURSE_WITH_EXERCISES, ids=lambda p: p.stem)
def test_course_reference_solution_scores_full_and_blank_scores_zero(notebook):
    assert score_problems(load_assignment(notebook), Limits()) == []
