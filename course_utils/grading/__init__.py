"""Teaching assistants' workflow: release student notebooks, grade submissions, validate answers.

    # notebooks/ -> release/ (student versions)
    python -m course_utils.grading release
    # CI: up to date, no leaks (and scores)
    python -m course_utils.grading release --check [--run]
    # TAs: grade a folder of submissions, two at a time
    python -m course_utils.grading grade SUBMISSIONS \
        --assignment notebooks/02_functional_api.ipynb -j 2
    # students, before submitting
    python -m course_utils.grading validate my_02_functional_api.ipynb

docs/GRADING.md is the TA walkthrough, the threat model and the nbgrader mapping. The design:

Grading model. Only the *answer cells* of a submission are used, matched by ``grade_id`` to the
instructor's notebook. The notebook that runs is the instructor's: its setup and teaching cells,
the student's answer cells in place of the solutions (the released stub where an answer is
missing), then the instructor's test cells including the hidden tests. Test cells, locked cells
and all metadata (points!) in the submission are ignored; edits are only reported as notes. A
file that is empty, not JSON, not a notebook, or that holds less than half of the assignment's
fixed cells is rejected with that reason (0 points). Each test cell is all-or-nothing.

Verdicts. A test cell earns its points when its visible part passed and every ``probe()`` of its
hidden part equals the reference's. The hidden part runs after the instructor's solutions (the
reference run, once per grading run) and after the student's answers, each in its own sandbox;
only data comes back (typed JSON, :mod:`.probes`), and the grading process, which never runs
student code, compares it. Expected values never enter a student's process, so a forged protocol
message or a patched harness earns nothing.

Isolation. Every submission runs in a fresh worker process (``_worker.py``) inside a bubblewrap
sandbox (:mod:`.isolation`: own PID, network, mount and user namespaces; read-only system,
Python, course_utils and data; a scratch folder; an empty environment), with limits on memory,
CPU time, file size and core dumps, the grader's own per-cell deadlines (it paces the cells) and
a per-submission deadline. Without bubblewrap grading runs unisolated, warns, and flags every row.
A cell or test that hangs or kills the worker is recorded, and a fresh worker goes on without it.

Gradebook. ``grade`` writes ``gradebook.csv`` (one row per student, one column per test cell),
``feedback/<student>.md`` and ``results/<student>.json`` (cache keyed by the submission's and the
assignment's SHA-256, grader version and limits, and signed with an HMAC), each atomically and as
soon as a student is done; ``-j N`` grades N submissions at once. Anything that goes wrong with
one submission (poison JSON, a symlink, a hostile name) becomes that student's row.
"""

import importlib

#: Where each public name lives; imported on first use (PEP 562), so that a sandboxed worker that
#: only needs :mod:`.probes` does not import nbformat and the rest of the grader.
_EXPORTS = {
    "Assignment": "assignment",
    "AssignmentError": "assignment",
    "SubmissionRejected": "assignment",
    "build_program": "assignment",
    "load_assignment": "assignment",
    "release_notebook": "assignment",
    "GradingError": "gradebook",
    "grade_folder": "gradebook",
    "grade_submission": "gradebook",
    "release_problems": "release",
    "score_problems": "release",
    "DEFAULT_MEMORY_MB": "sandbox",
    "Limits": "sandbox",
    "run_program": "sandbox",
    "probe": "probes",
}


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MEMORY_MB",
    "Assignment",
    "AssignmentError",
    "GradingError",
    "Limits",
    "SubmissionRejected",
    "build_program",
    "probe",
    "grade_folder",
    "grade_submission",
    "load_assignment",
    "release_notebook",
    "release_problems",
    "run_program",
    "score_problems",
]
