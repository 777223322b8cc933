"""The TA workflow (course_utils.grading): release, grade, validate, and the hardening cases.

Most tests use the small NumPy-level assignment in tests/grading_fixtures/ (a worker starts in
about 0.3 s). One class of real, malicious or broken submissions is graded once (``-j 2``) and
each test checks one student's row and feedback. The course notebooks are checked by the release
tests (up to date, no leaks, reference solution full marks, blank release zero), and one
Keras-level end-to-end test grades submissions of notebook 02.
"""

from __future__ import annotations

import csv
import json
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from course_utils.grading import cli
from course_utils.grading.assignment import (
    AssignmentError,
    SubmissionRejected,
    clear_solutions,
    load_assignment,
    nbgrader_role,
    parse_submission_bytes,
    read_submission,
    release_notebook,
)
from course_utils.grading.gradebook import GradingError, grade_folder, grade_submission
from course_utils.grading.release import (
    instructor_answers,
    leaks,
    notebook_text,
    release,
    release_problems,
    score_problems,
    secret_lines,
)
from course_utils.grading.sandbox import Limits

from conftest import ROOT

FIXTURE = ROOT / "tests" / "grading_fixtures" / "numpy_assignment.ipynb"


#: Small limits for the NumPy fixture (a NumPy worker peaks at about 120 MB of address space).
FAST = Limits(cell_timeout=3, total_timeout=60, memory_mb=1024, max_restarts=3)

CORRECT = {
    "ex1-solution": "def column_means(x):\n    return np.asarray(x, dtype=float).mean(axis=0)",
    "ex2-solution": (
        "def normalize(v):\n    v = np.asarray(v, dtype=float)\n    return v / np.linalg.norm(v)"
    ),
    "ex3-solution": "def count_positive(x):\n    return int(np.sum(np.asarray(x) > 0))",
}
WRONG = {
    "ex1-solution": "def column_means(x):\n    return np.zeros(np.shape(x)[1])",
    "ex2-solution": "def normalize(v):\n    return v",
    "ex3-solution": "def count_positive(x):\n    return 0.5",
}


@pytest.fixture(scope="module")
def assignment():
    return load_assignment(FIXTURE)


def submission(
    assignment, answers: dict[str, str] | None = None, edit=None
) -> nbformat.NotebookNode:
    """The released notebook with ``answers`` in the answer cells; ``edit(nb)`` tampers further."""
    nb = nbformat.from_dict(json.loads(json.dumps(assignment.released)))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if answers and gid in answers:
            cell.source = answers[gid]
    if edit:
        edit(nb)
    return nb


def cells_with(nb, role: str):
    return [c for c in nb.cells if nbgrader_role(c) == role]


def _dedent(source: str) -> str:
    return textwrap.dedent(source).strip("\n")


# ---- the malicious and broken class ----------------------------------------------------------


def _edit_tests(nb):
    for cell in cells_with(nb, "test"):
        cell.source = "assert True  # the tests were 'simplified'"


def _delete_tests(nb):
    nb.cells = [c for c in nb.cells if nbgrader_role(c) != "test"]


def _claim_points(nb):
    for cell in cells_with(nb, "test"):
        cell.metadata["nbgrader"]["points"] = 100
    bonus = nbformat.v4.new_code_cell("pass")
    bonus.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": "bonus",
        "locked": True,
        "points": 1000,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    nb.cells.append(bonus)


def _edit_setup(nb):
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("data ="):
            cell.source = "data = np.zeros((4, 3))"


#: What a cheater patches so that the WRONG answers pass every fixture test (without protection
#: they do).
PATCHES = """
import builtins, math
import numpy
real_isinstance = builtins.isinstance
numpy.allclose = lambda *a, **k: True
numpy.array_equal = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
math.isclose = lambda *a, **k: True
builtins.isinstance = lambda obj, cls: True if cls is int else real_isinstance(obj, cls)
"""


def _student_cases(assignment) -> dict[str, bytes | nbformat.NotebookNode]:
    ok3 = {"ex3-solution": CORRECT["ex3-solution"]}
    return {
        "correct": submission(assignment, CORRECT),
        "blank": submission(assignment),
        "wrong": submission(assignment, WRONG),
        "infinite_loop_in_call": submission(
            assignment,
            {**CORRECT, "ex1-solution": "def column_means(x):\n    while True:\n        pass"},
        ),
        "infinite_loop_at_top": submission(
            assignment,
            {**CORRECT, "ex1-solution": CORRECT["ex1-solution"] + "\n\nwhile True:\n    pass"},
        ),
        "loop_that_ignores_alarms": submission(
            assignment,
            {
                **CORRECT,
                "ex1-solution": _dedent("""
                def column_means(x):
                    while True:
                        try:
                            while True:
                                pass
                        except BaseException:
                            continue
                """),
            },
        ),
        "memory_bomb": submission(
            assignment,
            {
                **ok3,
                "ex1-solution": (
                    "def column_means(x):\n    hog = bytearray(64 * 2**30)\n    return hog"
                ),
                "ex2-solution": "hog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))",
            },
        ),
        "exceptions": submission(
            assignment,
            {
                **ok3,
                "ex1-solution": 'raise ValueError("boom at the top")',
                "ex2-solution": "def normalize(v):\n    return 1 / 0",
            },
        ),
        "edited_tests": submission(assignment, WRONG, _edit_tests),
        "deleted_tests": submission(assignment, WRONG, _delete_tests),
        "claims_points": submission(assignment, ok3, _claim_points),
        "edited_teaching_cell": submission(
            assignment,
            {"ex1-solution": "def column_means(x):\n    return np.zeros(3)"},
            _edit_setup,
        ),
        "monkeypatch_at_top": submission(
            assignment,
            {
                **WRONG,
                "ex3-solution": (
                    "def count_positive(x):\n    return float(np.sum(np.asarray(x) > 0)) "
                    " # not an int"
                )
                + "\n\n"
                + _dedent(PATCHES),
            },
        ),
        "monkeypatch_during_test": submission(
            assignment,
            {
                "ex1-solution": "def column_means(x):\n"
                + textwrap.indent(_dedent(PATCHES), "    ")
                + "\n    return np.zeros(np.shape(x)[1])",
                "ex2-solution": "def normalize(v):\n"
                + textwrap.indent(_dedent(PATCHES), "    ")
                + "\n    return v",
                "ex3-solution": "def count_positive(x):\n"
                + textwrap.indent(_dedent(PATCHES), "    ")
                + "\n    return float(np.sum(np.asarray(x) > 0))",
            },
        ),
        "patched_code_objects": submission(
            assignment,
            {
                **WRONG,
                "ex2-solution": WRONG["ex2-solution"]
                + "\n\nnp.testing.assert_allclose.__code__ = (lambda *a, **k: None).__code__",
            },
        ),
        "rebinds_names_during_test": submission(
            assignment,
            {
                "ex1-solution": _dedent("""
                    class Proxy:
                        \"\"\"The real module, except for the comparison functions.\"\"\"

                        def __init__(self, real, **fakes):
                            self.real, self.fakes = real, fakes

                        def __getattr__(self, name):
                            if name in self.fakes:
                                return self.fakes[name]
                            return getattr(self.real, name)

                    def cheat():
                        import math as real_math, numpy as real_np
                        yes = lambda *a, **k: True
                        testing = Proxy(real_np.testing, assert_allclose=lambda *a, **k: None)
                        fake_np = Proxy(real_np, allclose=yes, array_equal=yes, testing=testing)
                        globals()["np"] = fake_np
                        globals()["math"] = Proxy(real_math, isclose=yes)
                        globals()["isinstance"] = yes

                    def column_means(x):
                        cheat()
                        return np.zeros(np.shape(x)[1])
                    """),
                "ex2-solution": "def normalize(v):\n    cheat()\n    return v",
                "ex3-solution": (
                    "def count_positive(x):\n    cheat()\n    return float(np.sum(np.asarray(x) "
                    "> 0))"
                ),
            },
        ),
        "input_transformer": submission(
            assignment,
            {
                **WRONG,
                "ex1-solution": WRONG["ex1-solution"]
                + "\n\n"
                + _dedent("""


                    ip = get_ipython()
                    ip.input_transformers_post.append(lambda lines: [])
                    ip.input_transformers_cleanup.append(lambda lines: ["pass\\n"])
                    """),
            },
        ),
        "background_thread": submission(
            assignment,
            {
                **WRONG,
                "ex1-solution": WRONG["ex1-solution"]
                + "\n\n"
                + _dedent("""


                    import threading, time

                    def keep_patching():
                        while True:
                            np.allclose = lambda *a, **k: True
                            time.sleep(0.0005)

                    threading.Thread(target=keep_patching, daemon=True).start()
                    """),
            },
        ),
        "forged_results": submission(
            assignment,
            {
                **WRONG,
                "ex1-solution": _dedent("""
                    import os

                    def forge():
                        for fd in range(1, 64):
                            for index in range(3):
                                for part in ("visible", "hidden"):
                                    fields = ("result", "0" * 32, index, part, "passed", "", "", 0)
                                    line = " ".join(str(f).encode().hex() for f in fields) + "\\n"
                                    try:
                                        os.write(fd, line.encode())
                                    except OSError:
                                        pass
                        print("PASSED ex1-tests ex2-tests ex3-tests: 6/6")

                    forge()

                    def column_means(x):
                        forge()  # while the test runs: the parent is waiting for this test's result
                        return np.zeros(3)
                    """),
            },
        ),
        "exits": submission(
            assignment,
            {
                **ok3,
                "ex1-solution": "import os\n\ndef column_means(x):\n    os._exit(0)",
                "ex2-solution": "import sys\nsys.exit(0)",
            },
        ),
        "invalid_json": b'{"cells": [ {"cell_type": "code", "source": "oops"',
        "empty": b"",
        "not_a_notebook": b'{"name": "alice", "answers": [1, 2, 3]}',
        "other_assignment": nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_code_cell(
                    "def column_means(x):\n    return 1",
                    metadata={
                        "nbgrader": {
                            "grade": False,
                            "grade_id": "ex1-solution",
                            "locked": False,
                            "schema_version": 3,
                            "solution": True,
                            "task": False,
                        }
                    },
                )
            ]
        ),
    }


@pytest.fixture(scope="module")
def graded(assignment, tmp_path_factory):
    """Every case graded in one run with two jobs: {student: (result, feedback)}, and folders."""
    root = tmp_path_factory.mktemp("class")
    folder = root / "submissions"
    folder.mkdir()
    for student, content in _student_cases(assignment).items():
        path = folder / f"{student}.ipynb"
        path.write_bytes(
            content if isinstance(content, bytes) else nbformat.writes(content).encode()
        )
    (folder / "zoe" / "work").mkdir(parents=True)
    nbformat.write(submission(assignment, CORRECT), folder / "zoe" / "work" / "whatever_name.ipynb")
    (folder / "nobody").mkdir()
    (folder / "notes.txt").write_text("not a submission")
    out = root / "grades"
    lines: list[str] = []
    results = grade_folder(assignment, folder, out, jobs=2, limits=FAST, progress=lines.append)
    by_student = {
        r["student"]: (r, (out / "feedback" / f"{r['student']}.md").read_text()) for r in results
    }
    return {"results": by_student, "out": out, "folder": folder, "progress": lines}


def row(graded, student: str) -> dict:
    with open(graded["out"] / "gradebook.csv", newline="") as handle:
        return {r["student"]: r for r in csv.DictReader(handle)}[student]


def test_correct_and_blank_and_wrong(graded):
    assert row(graded, "correct")["total"] == "6" and row(graded, "correct")["max"] == "6"
    assert row(graded, "zoe")["total"] == "6", (
        "a <student>/ folder with one notebook in it is graded"
    )
    blank, feedback = graded["results"]["blank"]
    assert blank["score"] == 0 and all(a["status"] == "missing" for a in blank["answers"])
    assert "not answered yet" in feedback
    wrong, feedback = graded["results"]["wrong"]
    assert wrong["score"] == 0
    assert "column means of data should be [4.5, 5.5, 6.5]" in feedback, (
        "the visible assertion message is shown"
    )


def test_gradebook_has_one_row_per_student_and_one_column_per_test(graded):
    with open(graded["out"] / "gradebook.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == [
        "student",
        "ex1-tests",
        "ex2-tests",
        "ex3-tests",
        "total",
        "max",
        "status",
        "notes",
        "review",
        "isolated",
    ]
    assert [r["student"] for r in rows] == sorted(r["student"] for r in rows)
    assert len(rows) == len(graded["results"]) == len(_student_cases(load_assignment(FIXTURE))) + 2
    assert (
        row(graded, "nobody")["status"] == "rejected"
        and "no notebook" in row(graded, "nobody")["notes"]
    )


def test_infinite_loops_time_out_and_grading_goes_on(graded):
    for student in ("infinite_loop_in_call", "infinite_loop_at_top", "loop_that_ignores_alarms"):
        result, feedback = graded["results"][student]
        assert result["status"] == "graded"
        assert result["score"] == 5, f"{student}: ex1 gets 0, the other exercises still count"
        assert "time limit" in feedback
    stubborn, feedback = graded["results"]["loop_that_ignores_alarms"]
    assert stubborn["restarts"] >= 1 and "restarted" in feedback


def test_memory_bomb_fails_with_the_reason(graded):
    result, feedback = graded["results"]["memory_bomb"]
    assert result["score"] == 3, "only the untouched exercise 3 scores"
    assert "MemoryError" in feedback


def test_exceptions_are_reported_and_graded_zero(graded):
    result, feedback = graded["results"]["exceptions"]
    assert result["score"] == 3
    assert "ValueError: boom at the top (line 1 of your cell)" in feedback
    assert "ZeroDivisionError" in feedback


def test_edited_or_deleted_test_cells_use_the_instructors_tests(graded):
    for student, note in (("edited_tests", "was edited"), ("deleted_tests", "is missing")):
        result, feedback = graded["results"][student]
        assert result["score"] == 0, student
        assert f"locked cell ex1-tests {note}" in feedback


def test_metadata_claiming_more_points_is_ignored(graded):
    result, feedback = graded["results"]["claims_points"]
    assert (result["score"], result["max_score"]) == (3, 6)
    assert [t["max_points"] for t in result["tests"]] == [1, 2, 3]
    assert (
        "grading metadata of cell ex1-tests was changed" in feedback
        and "unknown grade_id 'bonus'" in feedback
    )


def test_teaching_cells_come_from_the_instructor(graded):
    assert graded["results"]["edited_teaching_cell"][0]["score"] == 0


@pytest.mark.parametrize("student", ["monkeypatch_at_top", "patched_code_objects"])
def test_monkeypatching_before_the_tests_gains_nothing(graded, student):
    result, feedback = graded["results"][student]
    assert result["score"] == 0, feedback
    assert "the originals were restored" in feedback
    assert result["tests"][1]["visible"]["status"] == "failed", (
        "assert_allclose is the real one again"
    )


def test_rebinding_the_notebooks_names_does_not_reach_the_tests(graded):
    assert graded["results"]["rebinds_names_during_test"][0]["score"] == 0


def test_monkeypatching_during_a_test_fails_it(graded):
    result, feedback = graded["results"]["monkeypatch_during_test"]
    assert result["score"] == 0
    assert "changed" in feedback and "while the tests ran" in feedback


def test_input_transformers_do_not_blank_the_tests(graded):
    assert graded["results"]["input_transformer"][0]["score"] == 0


def test_the_input_transformer_attack_works_in_a_real_ipython_shell(assignment, tmp_path):
    """The same submission run cell by cell in IPython (as a kernel would): every test "passes"."""
    import subprocess
    import sys

    nb = _student_cases(assignment)["input_transformer"]
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in cells_with(nb, "solution")}
    sources = [
        answers.get(c.metadata.get("nbgrader", {}).get("grade_id"), c.source)
        for c in assignment.notebook.cells
        if c.cell_type == "code"
    ]
    script = (
        "import json, sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "print(json.dumps([shell.run_cell(s).success for s in json.load(sys.stdin)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(sources),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [True] * len(sources), (
        "IPython ran the blanked tests as passing"
    )


def test_background_threads_cannot_patch_between_restores(graded):
    result, feedback = graded["results"]["background_thread"]
    assert result["score"] == 0 and "background threads" in feedback


def test_forged_results_are_ignored(graded):
    result, _ = graded["results"]["forged_results"]
    assert result["score"] == 0
    assert "raw files or descriptors" in result["review"], "the TA is told to look at this one"


def test_exiting_the_process_costs_only_that_exercise(graded):
    result, _ = graded["results"]["exits"]
    assert result["score"] == 3 and result["status"] == "graded"


@pytest.mark.parametrize(
    ("student", "reason"),
    [
        ("invalid_json", "not valid JSON"),
        ("empty", "empty"),
        ("not_a_notebook", "not a Jupyter notebook"),
        ("other_assignment", "not a notebook of this assignment"),
    ],
)
def test_unusable_files_get_zero_with_the_reason(graded, student, reason):
    result, feedback = graded["results"][student]
    assert (result["status"], result["score"]) == ("rejected", 0)
    assert reason in feedback and reason in row(graded, student)["notes"]


def test_feedback_never_shows_hidden_tests(graded, assignment):
    hidden = secret_lines(assignment.notebook)
    hidden_only = {line for line in hidden if line and "probe(" in line}
    assert hidden_only, "the fixture has hidden probes"
    for student, (result, feedback) in graded["results"].items():
        assert "Traceback" not in feedback, student
        for line in hidden_only:
            assert line not in feedback, (student, line)
        for test in result["tests"]:
            if test["visible"] and test["visible"]["status"] == "passed" and not test["passed"]:
                assert "hidden tests failed" in feedback


def test_regrading_is_idempotent_and_uses_the_cache(graded, assignment):
    out, folder = graded["out"], graded["folder"]
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    lines: list[str] = []
    grade_folder(assignment, folder, out, jobs=2, limits=FAST, progress=lines.append)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert any("reused" in line for line in lines) and not any("graded " in line for line in lines)


def test_interrupted_run_keeps_finished_grades(assignment, tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    for name in ("a", "b", "c", "d"):
        nbformat.write(submission(assignment, CORRECT), folder / f"{name}.ipynb")
    out = tmp_path / "grades"
    seen: list[str] = []

    def crash_after_first(line: str) -> None:
        seen.append(line)
        if "/6" in line:  # the first graded student (after the reference run's lines)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        grade_folder(assignment, folder, out, jobs=1, limits=FAST, progress=crash_after_first)
    saved = list((out / "results").glob("*.json"))
    assert len(saved) == 1 and (out / "gradebook.csv").read_text().count("\n") == 2
    assert not list(out.rglob("*.tmp")), "no half-written files"
    lines: list[str] = []
    results = grade_folder(assignment, folder, out, jobs=2, limits=FAST, progress=lines.append)
    assert [r["score"] for r in results] == [6, 6, 6, 6]
    assert any("1 result(s) reused" in line for line in lines)


def test_the_memory_limit_is_configurable(assignment, tmp_path):
    path = tmp_path / "hungry.ipynb"
    hungry = {
        **CORRECT,
        "ex1-solution": (
            "def column_means(x):\n    buffer = bytearray(400 * 2**20)\n    return np.asarray(x, "
            "dtype=float).mean(axis=0)"
        ),
    }
    nbformat.write(submission(assignment, hungry), path)
    roomy = grade_submission(assignment, path, "hungry", Limits(cell_timeout=10, memory_mb=1024))
    tight = grade_submission(assignment, path, "hungry", Limits(cell_timeout=10, memory_mb=350))
    assert (roomy["score"], tight["score"]) == (6, 5)
    assert tight["tests"][0]["visible"]["error_type"] == "MemoryError"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_DATA is Linux's")
def test_reserved_address_space_does_not_count_against_the_memory_limit(assignment, tmp_path):
    """TensorFlow and XLA reserve gigabytes of address space they never touch, so the limit
    counts the data a worker allocates (RLIMIT_DATA), not its address space: reserving 4 GiB
    (inaccessible, like those reservations) passes under a 1 GiB limit, while allocating 400 MB
    under a 350 MB limit fails (test_the_memory_limit_is_configurable)."""
    path = tmp_path / "reserver.ipynb"
    reserver = {
        **CORRECT,
        "ex1-solution": CORRECT["ex1-solution"]
        + "\n\nimport mmap\n_reserved = mmap.mmap(-1, 4 * 2**30, flags=mmap.MAP_PRIVATE, prot=0)",
    }
    nbformat.write(submission(assignment, reserver), path)
    result = grade_submission(assignment, path, "reserver", Limits(cell_timeout=10, memory_mb=1024))
    assert result["score"] == 6, result


def test_a_limit_too_small_for_the_instructors_cells_is_a_grading_error_not_a_zero(
    assignment, tmp_path
):
    path = tmp_path / "alice.ipynb"
    nbformat.write(submission(assignment, CORRECT), path)
    with pytest.raises(GradingError) as raised:  # the reference cannot run: stop, say why
        grade_submission(
            assignment, path, "alice", Limits(cell_timeout=5, total_timeout=30, memory_mb=40)
        )
    assert "the instructor's cell 1 failed" in str(raised.value)
    assert "--memory-mb" in str(raised.value)


# ---- release ---------------------------------------------------------------------------------


def test_release_replaces_solutions_like_nbgrader(assignment):
    solutions = cells_with(assignment.released, "solution")
    assert (
        solutions[0].source
        == "def column_means(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    )
    tests = cells_with(assignment.released, "test")
    assert "HIDDEN" not in tests[0].source and "rng" not in tests[0].source
    assert tests[0].metadata["editable"] is False and tests[0].metadata["deletable"] is False
    assert solutions[0].metadata["deletable"] is False and "editable" not in solutions[0].metadata
    assert not leaks(assignment.notebook, assignment.released)
    again = release_notebook(assignment.released)
    assert notebook_text(again) == notebook_text(assignment.released), (
        "releasing a release changes nothing"
    )


def test_leak_check_finds_a_planted_solution_line(assignment):
    leaked = nbformat.from_dict(json.loads(json.dumps(assignment.released)))
    cells_with(leaked, "solution")[1].source += "\n    return v / np.linalg.norm(v)"
    assert any("survives" in p for p in leaks(assignment.notebook, leaked))


def test_clear_solutions_keeps_indentation_and_code_around():
    source = (
        "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n"
        "\nprint(f)"
    )
    assert (
        clear_solutions(source)
        == "def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\nprint(f)"
    )
    assert clear_solutions("answer = 42") == "# YOUR CODE HERE\nraise NotImplementedError()"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda c: setattr(c[5], "source", c[5].source.replace("### END SOLUTION", "")),
            "never closed",
        ),
        (lambda c: c[8].metadata["nbgrader"].update(grade_id="ex1-solution"), "also used"),
        (lambda c: setattr(c[6], "source", c[6].source + "\nassert True"), "must end the cell"),
        (lambda c: c[6].metadata["nbgrader"].pop("points"), "positive 'points'"),
    ],
)
def test_bad_markup_is_refused_with_the_cell_named(tmp_path, mutate, message):
    nb = nbformat.read(FIXTURE, as_version=4)
    mutate(nb.cells)
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(AssignmentError, match=message):
        load_assignment(path)


def test_release_folder_is_deterministic_and_safe(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "numpy_assignment.ipynb").write_bytes(FIXTURE.read_bytes())
    (source / "no_exercises.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    out = tmp_path / "release"
    release(source, out)
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(first) == {"numpy_assignment.ipynb", ".release.json"}
    release(source, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    assert release_problems(source, out) == []
    (out / "numpy_assignment.ipynb").write_text(
        (out / "numpy_assignment.ipynb").read_text().replace("YOUR CODE HERE", "your code")
    )
    assert any("differs" in p for p in release_problems(source, out))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.md").write_text("my notes")
    with pytest.raises(GradingError, match="not an earlier release"):
        release(source, mine)
    release(source, mine, force=True)
    assert (mine / "notes.md").read_text() == "my notes"


def test_release_copies_the_glossary_and_checks_it(tmp_path):
    source, out = tmp_path / "src", tmp_path / "release"
    source.mkdir()
    (source / "numpy_assignment.ipynb").write_bytes(FIXTURE.read_bytes())
    (source / "GLOSSARY.md").write_text("| stride | 스트라이드 |\n", encoding="utf-8")
    release(source, out)
    assert (out / "GLOSSARY.md").read_bytes() == (source / "GLOSSARY.md").read_bytes()
    assert "GLOSSARY.md" in json.loads((out / ".release.json").read_text())["notebooks"]
    assert release_problems(source, out) == []
    (source / "GLOSSARY.md").write_text("| stride | 보폭 |\n", encoding="utf-8")
    assert any("GLOSSARY.md" in p and "out of date" in p for p in release_problems(source, out))


def test_fixture_reference_scores_full_and_blank_scores_zero(assignment):
    assert score_problems(assignment, FAST) == []


def _problems_with_ex3_tests(tmp_path, source: str) -> list[str]:
    """score_problems on the fixture with exercise 3's test cell replaced by ``source``."""
    nb = nbformat.read(FIXTURE, as_version=4)
    nb.cells[12].source = source
    path = tmp_path / "variant.ipynb"
    nbformat.write(nb, path)
    return score_problems(load_assignment(path), FAST)


@pytest.mark.parametrize(
    "source, problem",
    [
        (
            "assert True\n### BEGIN HIDDEN TESTS\nprobe('two', 1 + 1)\n### END HIDDEN TESTS",
            "blank release scores on ex3-tests",
        ),
        (
            "### BEGIN HIDDEN TESTS\nassert count_positive([1]) == 1\n### END HIDDEN TESTS",
            "make no probe()",
        ),
        (
            "### BEGIN HIDDEN TESTS\nimport os\nprobe('n', count_positive([1]))\n"
            "probe('noise', os.urandom(8).hex())\n### END HIDDEN TESTS",
            "probes differ between two runs of the reference",
        ),
    ],
    ids=["accepts-blank", "asserts-not-probes", "random-probe"],
)
def test_score_check_catches_weak_hidden_tests(tmp_path, source, problem):
    assert any(problem in p for p in _problems_with_ex3_tests(tmp_path, source))


# ---- reading submissions ----------------------------------------------------------------------


def test_read_submission_takes_answer_cells_only(assignment):
    nb = submission(assignment, CORRECT, _edit_tests)
    taken = read_submission(nb, assignment)
    assert taken.answers == CORRECT and taken.unanswered == []
    duplicated = submission(assignment, CORRECT)
    duplicated.cells.insert(
        6, nbformat.from_dict(json.loads(json.dumps(cells_with(duplicated, "solution")[0])))
    )
    assert any("more than once" in n for n in read_submission(duplicated, assignment).notes)
    with pytest.raises(SubmissionRejected, match="not valid JSON"):
        parse_submission_bytes(b"{")


# ---- command line -------------------------------------------------------------------------------


def test_cli_refuses_bad_input(tmp_path, capsys):
    assert cli.main(["grade", str(tmp_path / "missing"), "--assignment", str(FIXTURE)]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert cli.main(["grade", str(tmp_path), "--assignment", str(tmp_path / "nope.ipynb")]) == 2
    plain = tmp_path / "plain.ipynb"
    plain.write_text(nbformat.writes(nbformat.v4.new_notebook()))
    assert cli.main(["grade", str(tmp_path), "--assignment", str(plain)]) == 2
    assert "no graded test cells" in capsys.readouterr().err
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("x")
    (tmp_path / "subs").mkdir()
    assert (
        cli.main(
            ["grade", str(tmp_path / "subs"), "--assignment", str(FIXTURE), "--out", str(occupied)]
        )
        == 2
    )
    assert "pass --force" in capsys.readouterr().err


def test_validate_reports_missing_answers_and_failures(assignment, tmp_path, capsys):
    paths = {}
    for name, answers in (("blank", None), ("wrong", WRONG), ("correct", CORRECT)):
        paths[name] = tmp_path / f"{name}.ipynb"
        nbformat.write(submission(assignment, answers), paths[name])
    reference = tmp_path / "reference.ipynb"
    nbformat.write(assignment.released, reference)
    limits = ["--timeout", "5", "--memory-mb", "1024"]
    assert cli.main(["validate", str(paths["blank"]), "--assignment", str(reference), *limits]) == 1
    out = capsys.readouterr().out
    assert "MISSING ANSWER: ex1-solution" in out and "FAIL ex1-tests" in out
    assert cli.main(["validate", str(paths["wrong"]), "--assignment", str(reference), *limits]) == 1
    assert "column means of data should be" in capsys.readouterr().out
    assert (
        cli.main(["validate", str(paths["correct"]), "--assignment", str(reference), *limits]) == 0
    )
    assert "All visible tests pass" in capsys.readouterr().out
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{")
    assert cli.main(["validate", str(broken), "--assignment", str(reference), *limits]) == 2


@pytest.mark.slow
def test_keras_level_submissions_of_notebook_02(tmp_path):
    """End to end on a real Keras notebook: a partial, a cheating and a forging submission (the
    reference solution's full marks are checked by the release tests)."""
    from test_grading_attacks import FORGE_PROTOCOL, hidden_exec

    assignment = load_assignment(ROOT / "notebooks" / "02_functional_api.ipynb")
    answers = instructor_answers(assignment)
    folder = tmp_path / "subs"
    folder.mkdir()
    partial = {
        **answers,
        "ex2-solution": (
            "def concat_numbers(input_widths, branch_units, n_classes):\n    return 0, 0"
        ),
    }
    cheat = {
        gid: source.replace(
            "### BEGIN SOLUTION",
            "### BEGIN SOLUTION\n    keras.Model.count_params = lambda self: 0",
        )
        for gid, source in answers.items()
    }
    cheat["ex2-solution"] = (
        "def concat_numbers(input_widths, branch_units, n_classes):\n"
        "    keras.Model.count_params = lambda self: 12345\n"
        "    return sum(branch_units), 12345"
    )
    forger = {"ex1-solution": hidden_exec(FORGE_PROTOCOL)}  # blank answers, forged protocol
    for name, content in (("partial", partial), ("cheat", cheat), ("forger", forger)):
        nbformat.write(submission(assignment, content), folder / f"{name}.ipynb")
    results = {
        r["student"]: r
        for r in grade_folder(
            assignment, folder, tmp_path / "out", jobs=2, progress=lambda line: None
        )
    }
    assert (results["partial"]["score"], results["partial"]["status"]) == (4, "graded")
    assert [t["passed"] for t in results["partial"]["tests"]] == [True, False, True]
    ex2 = results["cheat"]["tests"][1]
    assert not ex2["passed"] and "changed keras" in ex2["visible"]["message"]
    assert results["cheat"]["score"] == 0
    forged = results["forger"]
    assert [t["visible"]["status"] for t in forged["tests"]] == ["passed"] * 3
    assert forged["score"] == 0, forged["tests"]
    assert 0 < results["partial"]["peak_memory_mb"] < Limits().memory_mb


def _nbgrader() -> str | None:
    """nbgrader's command, when installed (not part of requirements.txt; see docs/GRADING.md)."""
    import os
    import shutil

    return os.environ.get("NBGRADER") or shutil.which("nbgrader")


@pytest.mark.slow
@pytest.mark.skipif(
    _nbgrader() is None,
    reason="nbgrader is not installed (set NBGRADER=/path/to/nbgrader to run this)",
)
def test_nbgrader_generate_assignment_makes_the_same_student_version(tmp_path):
    import os
    import subprocess

    command = _nbgrader()
    notebooks = [FIXTURE, ROOT / "notebooks" / "02_functional_api.ipynb"]
    source = tmp_path / "source" / "ps"
    source.mkdir(parents=True)
    for notebook in notebooks:
        (source / notebook.name).write_bytes(notebook.read_bytes())
    env = {
        **os.environ,
        "PATH": f"{Path(command).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }  # nbgrader runs `alembic`
    subprocess.run(
        [command, "generate_assignment", "ps", "--create", "--force"]
        + [f"--CourseDirectory.root={tmp_path}"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    for notebook in notebooks:
        theirs = nbformat.read(tmp_path / "release" / "ps" / notebook.name, as_version=4)
        ours = load_assignment(notebook).released
        assert [c.source for c in theirs.cells] == [c.source for c in ours.cells]
        for mine, nbg in zip(ours.cells, theirs.cells, strict=True):
            expected = {
                k: v
                for k, v in nbg.metadata.get("nbgrader", {}).items()
                if k not in ("checksum", "cell_type")
            }
            assert mine.metadata.get("nbgrader", {}) == expected
            assert (mine.metadata.get("deletable"), mine.metadata.get("editable")) == (
                nbg.metadata.get("deletable"),
                nbg.metadata.get("editable"),
            )
