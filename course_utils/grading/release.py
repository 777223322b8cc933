"""Student versions of the course notebooks, and the checks CI runs on them.

``release/`` holds one student notebook per course notebook that has graded exercises, a copy of
the source folder's ``GLOSSARY.md`` (generated from the notebooks by :mod:`course_utils.glossary`;
every notebook links it), and ``.release.json`` (a manifest naming each file and its SHA-256) that
marks the folder as a release, so a later run may replace those files and nothing else. The output
depends only on the source notebooks: no timestamps, cell ids kept, no outputs.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import nbformat

from ..cache import atomic_write, sha256_hex
from ..glossary import FILE_NAME as GLOSSARY  # copied from the source folder when it has one
from .assignment import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    END_HIDDEN,
    END_SOLUTION,
    Assignment,
    _marker_regions,
    build_program,
    has_exercises,
    instructor_answers,
    load_assignment,
    nbgrader_role,
)
from .gradebook import GradingError, hidden_verdict, reference_run
from .sandbox import Limits, Outcome, run_program

MANIFEST = ".release.json"
#: Lines too common to count as a leak when they also end up in a student notebook.
_TRIVIAL = {"", ")", "]", "}", "),", "],", "pass", "return", "else:", "try:", "continue", "break"}


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """The exact bytes a notebook is stored as (the maintainers' tool writes the same)."""
    return nbformat.writes(nb) + "\n"


def course_notebooks(source: Path) -> list[Path]:
    """The notebooks in ``source`` that have graded exercises, in order."""
    if not source.is_dir():
        raise GradingError(f"{source}: no such folder of notebooks")
    return [p for p in sorted(source.glob("*.ipynb")) if has_exercises(p)]


def release(source: Path, out: Path, force: bool = False) -> list[Path]:
    """Write the student version of every notebook with exercises in ``source`` into ``out``.

    Refuses (:class:`GradingError`) to write into a non-empty folder that is not an earlier
    release, or over a file the earlier release did not write, unless ``force``.
    """
    notebooks = course_notebooks(source)
    manifest_path = out / MANIFEST
    previous: dict[str, str] = {}
    if manifest_path.exists():
        previous = json.loads(manifest_path.read_text(encoding="utf-8")).get("notebooks", {})
    elif out.exists() and any(out.iterdir()) and not force:
        raise GradingError(
            f"{out} is not empty and is not an earlier release (no {MANIFEST}): "
            "choose another --out or pass --force"
        )
    written: dict[str, str] = {}
    texts = {}
    for path in notebooks:
        texts[path.name] = notebook_text(load_assignment(path).released)
    if (source / GLOSSARY).is_file():
        texts[GLOSSARY] = (source / GLOSSARY).read_text(encoding="utf-8")
    for name in texts:
        if (out / name).exists() and name not in previous and not force:
            raise GradingError(
                f"{out / name} exists and was not written by an earlier release: "
                "move it or pass --force"
            )
    for name, text in texts.items():
        target = out / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            atomic_write(target, text)
        written[name] = sha256_hex(text)
    for name in previous:
        if name not in written and (out / name).exists():
            os.remove(out / name)  # its source notebook lost its exercises or was removed
    manifest = {"generated_by": "python -m course_utils.grading release", "notebooks": written}
    atomic_write(manifest_path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return [out / name for name in written]


def secret_lines(nb: nbformat.NotebookNode) -> set[str]:
    """Lines of solutions and hidden tests that appear nowhere else in the instructor notebook."""
    secret, public = set(), set()
    for cell in nb.cells:
        lines = [line.strip() for line in cell.source.split("\n")]
        role = nbgrader_role(cell)
        hidden: set[int] = set()
        if role in ("solution", "test"):
            begin, end = (
                (BEGIN_SOLUTION, END_SOLUTION) if role == "solution" else (BEGIN_HIDDEN, END_HIDDEN)
            )
            for first, last in _marker_regions(cell.source, begin, end, "cell"):
                hidden.update(range(first + 1, last))
        for number, line in enumerate(lines):
            (secret if number in hidden else public).add(line)
    return {line for line in secret - public if line not in _TRIVIAL and not line.startswith("#")}


def leaks(instructor: nbformat.NotebookNode, student: nbformat.NotebookNode) -> list[str]:
    """Solution or hidden-test text, markers or outputs that reached the student notebook."""
    problems = []
    secret = secret_lines(instructor)
    for index, cell in enumerate(student.cells):
        for marker in (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN):
            if marker in cell.source:
                problems.append(f"cell {index}: contains the marker '{marker}'")
        for line in cell.source.split("\n"):
            if line.strip() in secret:
                problems.append(
                    f"cell {index}: solution or hidden-test line survives: {line.strip()[:80]!r}"
                )
        if cell.cell_type == "code" and (
            cell.get("outputs") or cell.get("execution_count") is not None
        ):
            problems.append(f"cell {index}: stores outputs")
    return problems


def release_problems(source: Path, out: Path) -> list[str]:
    """What CI checks without running anything: up to date, byte for byte, and no leaks."""
    problems = []
    if (source / GLOSSARY).is_file():
        copy = out / GLOSSARY
        if not copy.is_file() or copy.read_bytes() != (source / GLOSSARY).read_bytes():
            problems.append(
                f"{copy}: missing or out of date; run: python -m course_utils.grading release"
            )
    for path in course_notebooks(source):
        assignment = load_assignment(path)
        expected = notebook_text(assignment.released)
        target = out / path.name
        if not target.exists():
            problems.append(f"{target}: missing; run: python -m course_utils.grading release")
            continue
        if target.read_text(encoding="utf-8") != expected:
            problems.append(
                f"{target}: differs from what {path} releases; run: "
                "python -m course_utils.grading release"
            )
        problems += [
            f"{target}: {p}"
            for p in leaks(
                assignment.notebook,
                nbformat.reads(target.read_text(encoding="utf-8"), as_version=4),
            )
        ]
    return problems


def score_problems(assignment: Assignment, limits: Limits = Limits()) -> list[str]:
    """The reference solution must score full marks (run twice: its probes must be
    deterministic) and the blank release must score 0, hidden tests included."""
    programs = {
        "instructor": build_program(assignment, instructor_answers(assignment)),
        "blank": replace(build_program(assignment, {}), keep_going=True),
    }
    problems: list[str] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        reference_future = pool.submit(reference_run, assignment, limits)
        runs = dict(
            zip(
                programs, pool.map(lambda p: run_program(p, limits), programs.values()), strict=True
            )
        )
        try:
            reference = reference_future.result()[1]
        except GradingError as exc:
            return [f"{assignment.name}: {exc}"]
    for name, run in runs.items():
        if run.grader_error:
            problems.append(
                f"{assignment.name} ({name} version): {run.grader_error}\n{run.log_tail[-1500:]}"
            )
    for test in assignment.tests:
        expected = reference.get(test.grade_id, [])
        parts = runs["instructor"].tests.get(test.grade_id, {})
        visible = parts.get("visible")
        if visible is None or not visible.passed:
            problems.append(
                f"{assignment.name}: the reference solution fails {test.grade_id} (visible): "
                f"{visible.error_type if visible else 'not run'}: "
                f"{visible.message if visible else ''}"
            )
        if test.hidden.strip():
            verdict = hidden_verdict(parts.get("hidden") or Outcome("none"), expected)
            if verdict["status"] != "passed":
                problems.append(
                    f"{assignment.name}: {test.grade_id}'s probes differ between two runs of the "
                    f"reference solution ({verdict['detail']}): probe only what every correct "
                    "answer makes the same (see notebooks/README.md)"
                )
        blank = runs["blank"].tests.get(test.grade_id, {})
        blank_visible = blank.get("visible")
        blank_hidden = (
            hidden_verdict(blank["hidden"], expected) if blank.get("hidden") else {"status": "none"}
        )
        if (
            blank_visible is not None
            and blank_visible.passed
            and (blank_hidden["status"] in ("passed", "none"))
        ):
            problems.append(
                f"{assignment.name}: the blank release scores on {test.grade_id}: "
                "its tests accept an unanswered exercise"
            )
        elif blank_hidden["status"] == "passed":
            problems.append(
                f"{assignment.name}: the blank release passes the hidden tests of {test.grade_id}"
            )
    return problems
