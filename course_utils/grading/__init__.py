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

Isolation. Every submission runs in a fresh ``python -I`` worker process (``_worker.py``) with an
empty temporary working directory and ``HOME``, a minimal environment (``COURSE_PROFILE=fast``,
``COURSE_OFFLINE=1``, one thread per numeric library, ``MALLOC_ARENA_MAX=2``), a limit on memory
(``--memory-mb``: the data a worker allocates, RLIMIT_DATA on Linux; default
:data:`~course_utils.grading.sandbox.DEFAULT_MEMORY_MB`), CPU time, file size and core dumps,
its own session (every process it starts is killed with it), and
deadlines per cell/test (``--timeout``) and per submission (``--total-timeout``). Cells are
executed with ``exec`` in a plain Python process, not an IPython kernel: IPython syntax in cells is
translated to ``get_ipython()`` calls in the parent before the run, and the ``get_ipython()`` the
cells see runs no input transformers, so a transformer registered by a student changes nothing.
A cell or test that hangs or kills the worker is recorded, and a fresh worker goes on without it;
an answer cell stopped by a limit is undone (its names removed). An instructor cell that fails
before any student code ran makes the result ``status = error`` (a grader problem, e.g. too small
a memory limit), never a silent zero.

Two phases. Phase 1 runs setup, teaching and answer cells; the hidden tests are not in the worker
yet. Phase 2 sends one test cell at a time with a fresh random nonce; the parent accepts only
results carrying it (student code that ran before cannot forge them by printing). Before each
test part, the worker restores what tests rely on to the state captured before the student's
first cell: builtins, functions/classes/submodules of protected modules (numpy, keras, sklearn,
... and whatever the instructor's cells import), class methods, function code and defaults,
``sys.modules``, trace/profile hooks. Test code runs in its own namespace (instructor-defined
names, a pristine builtins copy, the exercise's API names taken from the student's namespace), so
``np = fake`` or ``__builtins__`` tricks in the student's namespace do not reach it. A test part
during which protected state changed fails, whatever its asserts said. Background threads started
by student code fail the remaining tests.

Limits (docs/GRADING.md has the full list). The student's code and the tests share one process,
so code written against this grader's internals (frame or ``gc`` introspection to find the nonce,
``ctypes``, reading the worker's pipes) can still forge a pass; such tools are flagged in the
gradebook's ``review`` column for a TA to read. It is not an OS sandbox: the code can read files
the TA can read and use the network.

Gradebook. ``grade`` writes ``gradebook.csv`` (one row per student, one column per test cell),
``feedback/<student>.md`` and ``results/<student>.json`` (cache keyed by the submission's and the
assignment's SHA-256, grader version and limits), each atomically and as soon as a student is
done; ``-j N`` grades N submissions at once.
"""

from .assignment import (
    Assignment,
    AssignmentError,
    SubmissionRejected,
    build_program,
    load_assignment,
    release_notebook,
)
from .gradebook import GradingError, grade_folder, grade_submission
from .release import release, release_problems, score_problems
from .sandbox import DEFAULT_MEMORY_MB, Limits, run_program

__all__ = [
    "DEFAULT_MEMORY_MB",
    "Assignment",
    "AssignmentError",
    "GradingError",
    "Limits",
    "SubmissionRejected",
    "build_program",
    "grade_folder",
    "grade_submission",
    "load_assignment",
    "release",
    "release_notebook",
    "release_problems",
    "run_program",
    "score_problems",
]
