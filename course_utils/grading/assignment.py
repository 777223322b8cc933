"""Instructor notebooks in nbgrader markup: parse, make the student version, read submissions.

The markup is nbgrader's (``notebooks/README.md``, "Exercises"); the text transformations follow
nbgrader's ``ClearSolutions`` and ``ClearHiddenTests`` line for line (a line *containing*
``BEGIN SOLUTION`` starts a region, the stub keeps that line's indentation), so a notebook
released here and one released by ``nbgrader generate_assignment`` have the same cell sources.
"""

from __future__ import annotations

import ast
import json
import re
import symtable
import threading
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..cache import file_digest
from ..notebooks import clean as clean_outputs
from ..notebooks import read as read_notebook
from .sandbox import Program, Step, TestSpec

BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = "YOUR ANSWER HERE"
#: A submission must contain at least this share of the assignment's fixed cells (statements,
#: teaching cells, visible tests) to count as "a notebook of this assignment".
MIN_SHARED_CELLS = 0.5


class AssignmentError(ValueError):
    """The instructor notebook's markup is wrong; the message names the notebook and cell."""


class SubmissionRejected(ValueError):
    """Not a gradable notebook of this assignment; the message says why (for the feedback)."""


@dataclass(frozen=True)
class TestCell:
    """One graded test cell: its visible asserts, then its hidden block (run after them)."""

    grade_id: str
    points: float
    index: int
    visible: str
    hidden: str


@dataclass(frozen=True)
class Assignment:
    """An instructor notebook and everything grading needs from it."""

    path: Path
    name: str
    sha256: str
    notebook: nbformat.NotebookNode
    released: nbformat.NotebookNode
    solution_ids: tuple[str, ...]
    tests: tuple[TestCell, ...]

    @property
    def max_score(self) -> float:
        return float(sum(t.points for t in self.tests))

    @property
    def test_ids(self) -> tuple[str, ...]:
        return tuple(t.grade_id for t in self.tests)


@dataclass
class Submission:
    """The parts of a student's notebook that grading uses: answer cells by grade_id, and notes."""

    answers: dict[str, str]
    unanswered: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def nbgrader_role(cell: nbformat.NotebookNode) -> str:
    """The cell's nbgrader role.

    ``"solution"``, ``"test"``, ``"locked"`` (e.g. a statement), ``"other-nbgrader"`` or
    ``"plain"``.
    """
    meta = cell.get("metadata", {}).get("nbgrader")
    if not isinstance(meta, dict):
        return "plain"
    if meta.get("solution") and not meta.get("grade"):
        return "solution"
    if meta.get("grade") and not meta.get("solution") and cell.cell_type == "code":
        return "test"
    if (
        meta.get("locked")
        and not meta.get("grade")
        and not meta.get("solution")
        and not meta.get("task")
    ):
        return "locked"
    return "other-nbgrader"


def _marker_regions(source: str, begin: str, end: str, where: str) -> list[tuple[int, int]]:
    """(first, last) line numbers of each ``begin``...``end`` region, markers included."""
    regions, start = [], None
    for number, line in enumerate(source.split("\n")):
        if begin in line:
            if start is not None:
                raise AssignmentError(f"{where}: nested '{begin}' on line {number + 1}")
            start = number
        elif end in line:
            if start is None:
                raise AssignmentError(f"{where}: '{end}' on line {number + 1} without '{begin}'")
            regions.append((start, number))
            start = None
    if start is not None:
        raise AssignmentError(f"{where}: '{begin}' on line {start + 1} is never closed by '{end}'")
    return regions


def clear_solutions(source: str, cell_type: str = "code") -> str:
    """nbgrader's ``ClearSolutions``: each region becomes the stub; no markers: the whole cell.

    A cell without markers that already holds the stub is left as it is, so releasing a
    released notebook changes nothing (``validate`` reads released notebooks this way).
    """
    lines = source.split("\n")
    regions = _marker_regions(source, BEGIN_SOLUTION, END_SOLUTION, "solution cell")
    if not regions and (CODE_STUB[0] in source or MARKDOWN_STUB in source):
        return source
    if not regions:
        return "\n".join(CODE_STUB) if cell_type == "code" else MARKDOWN_STUB
    stub = CODE_STUB if cell_type == "code" else (MARKDOWN_STUB,)
    out: list[str] = []
    starts = {first: last for first, last in regions}
    number = 0
    while number < len(lines):
        if number in starts:
            indent = re.match(r"\s*", lines[number]).group(0)
            out.extend(indent + s for s in stub)
            number = starts[number] + 1
            continue
        out.append(lines[number])
        number += 1
    return "\n".join(out)


def split_hidden(source: str, where: str = "test cell") -> tuple[str, str]:
    """(visible, hidden) sources of a test cell; the hidden block must end the cell."""
    lines = source.split("\n")
    regions = _marker_regions(source, BEGIN_HIDDEN, END_HIDDEN, where)
    if len(regions) > 1:
        raise AssignmentError(
            f"{where}: one '{BEGIN_HIDDEN}' block per test cell, found {len(regions)}"
        )
    if not regions:
        return source, ""
    first, last = regions[0]
    if any(line.strip() for line in lines[last + 1 :]):
        raise AssignmentError(
            f"{where}: the hidden tests must end the cell (they run after the visible ones)"
        )
    return "\n".join(lines[:first]), "\n".join(lines[first + 1 : last])


#: CPython 3.11's parser keeps recursion-depth bookkeeping that is not safe when two threads parse
#: at once (``SystemError: AST constructor recursion depth mismatch``, seen with ``grade -j 2``):
#: every compile/parse of cell sources in this module takes this lock.
_PARSE_LOCK = threading.RLock()


def python_source(source: str) -> str:
    """Plain Python for a cell: IPython syntax (``%magic``, ``!cmd``) as ``get_ipython()`` calls."""
    try:
        with _PARSE_LOCK:
            compile(source, "<cell>", "exec", dont_inherit=True)
        return source
    except SyntaxError:
        pass
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        with _PARSE_LOCK:
            transformed = TransformerManager().transform_cell(source)
            compile(transformed, "<cell>", "exec", dont_inherit=True)
        return transformed
    except (
        Exception
    ):  # not IPython syntax either: run as is, the SyntaxError is the student's feedback
        return source


def bound_names(source: str) -> tuple[str, ...]:
    """Names a cell binds at top level (assignments, imports, def, class, for targets)."""
    try:
        with _PARSE_LOCK:
            table = symtable.symtable(source, "<cell>", "exec")
    except SyntaxError:
        return ()
    return tuple(
        sorted(
            s.get_name()
            for s in table.get_symbols()
            if s.is_assigned() or s.is_imported() or s.is_namespace()
        )
    )


def import_statements(source: str) -> list[str]:
    """The top-level ``import`` statements of a cell, as source lines."""
    try:
        with _PARSE_LOCK:
            tree = ast.parse(source)
    except SyntaxError:
        return []
    return [
        ast.unparse(node)
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0)
    ]


def imported_modules(sources: list[str]) -> set[str]:
    """Module names the cells use: what they import, and dotted attributes of imported names.

    ``from a.b import c`` gives ``a.b`` and ``a.b.c``; ``import numpy as np`` with
    ``np.testing.assert_allclose(...)`` anywhere gives ``numpy.testing`` (and
    ``numpy.testing.assert_allclose``, which fails to import harmlessly). The worker imports these
    before the student's code runs, so lazily loaded submodules are protected too.
    """
    trees = []
    for source in sources:
        try:
            with _PARSE_LOCK:
                trees.append(ast.parse(source))
        except SyntaxError:
            continue
    names: set[str] = set()
    aliases: dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    names.add(alias.name)
                    aliases[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0]
                    )
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                for alias in node.names:
                    if alias.name != "*":
                        names.add(f"{node.module}.{alias.name}")
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for tree in trees:
        for node in ast.walk(tree):
            chain = []
            while isinstance(node, ast.Attribute):
                chain.append(node.attr)
                node = node.value
            if isinstance(node, ast.Name) and node.id in aliases and chain:
                dotted = aliases[node.id]
                for attr in reversed(chain):
                    dotted = f"{dotted}.{attr}"
                    names.add(dotted)
    return names


def _normalized(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().split("\n"))


def release_notebook(nb: nbformat.NotebookNode, where: str = "notebook") -> nbformat.NotebookNode:
    """The student version: solutions replaced by the stub, hidden tests removed, no outputs at all.

    nbgrader cells are marked ``deletable: false`` and locked ones ``editable: false`` (what
    nbgrader's ``LockCells`` does), so JupyterLab protects them from accidental edits.
    """
    student = nbformat.from_dict(json.loads(json.dumps(nb)))
    for index, cell in enumerate(student.cells):
        role = nbgrader_role(cell)
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "?")
        label = f"{where} cell {index} ({grade_id})"
        if role == "solution":
            cell.source = clear_solutions(cell.source, cell.cell_type)
        elif role == "test":
            cell.source, _ = split_hidden(cell.source, label)
        for marker in (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN):
            if marker in cell.source:
                raise AssignmentError(
                    f"{label}: '{marker}' outside a solution/test cell would reach students"
                )
        if role != "plain":
            cell.metadata["deletable"] = False
            if cell.metadata["nbgrader"].get("locked"):
                cell.metadata["editable"] = False
    for cell in student.cells:
        if cell.cell_type == "code":  # nbgrader's ClearOutput: even nbval-checked outputs go
            cell.outputs, cell.execution_count = [], None
    return clean_outputs(student)


def load_assignment(path: str | Path) -> Assignment:
    """Read and check an instructor notebook; :class:`AssignmentError` says what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise AssignmentError(f"{path}: no such notebook")
    try:
        nb = read_notebook(path)
    except ValueError as exc:
        raise AssignmentError(str(exc)) from exc
    seen: dict[str, int] = {}
    solution_ids: list[str] = []
    tests: list[TestCell] = []
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader")
        if not isinstance(meta, dict):
            continue
        gid = meta.get("grade_id")
        where = f"{path.name} cell {index} ({gid})"
        if not isinstance(gid, str) or not gid:
            raise AssignmentError(f"{where}: nbgrader cell without a grade_id")
        if gid in seen:
            raise AssignmentError(f"{where}: grade_id '{gid}' is also used by cell {seen[gid]}")
        seen[gid] = index
        role = nbgrader_role(cell)
        if role == "other-nbgrader":
            raise AssignmentError(
                f"{where}: manually graded or task cells are not supported by the course grader"
            )
        if role == "solution":
            if cell.cell_type != "code":
                raise AssignmentError(
                    f"{where}: written (markdown) answers need manual grading, not supported"
                )
            _marker_regions(cell.source, BEGIN_SOLUTION, END_SOLUTION, where)
            solution_ids.append(gid)
        elif role == "test":
            points = meta.get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
                raise AssignmentError(
                    f"{where}: a test cell needs positive 'points', got {points!r}"
                )
            visible, hidden = split_hidden(cell.source, where)
            tests.append(TestCell(gid, float(points), index, visible, hidden))
    if not tests:
        raise AssignmentError(
            f"{path}: no graded test cells (nbgrader 'grade': true) in this notebook"
        )
    return Assignment(
        path=path,
        name=path.stem,
        sha256=file_digest(path),
        notebook=nb,
        released=release_notebook(nb, path.name),
        solution_ids=tuple(solution_ids),
        tests=tuple(tests),
    )


def has_exercises(path: Path) -> bool:
    """Does this notebook contain graded test cells (so it gets a student version)?"""
    nb = read_notebook(path)
    return any(nbgrader_role(cell) == "test" for cell in nb.cells)


def parse_submission_bytes(data: bytes) -> nbformat.NotebookNode:
    """Parse a submitted file; :class:`SubmissionRejected` with a student-readable reason."""
    if not data.strip():
        raise SubmissionRejected("the submitted file is empty")
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise SubmissionRejected(
            "the submitted file is not text (not a Jupyter notebook)"
        ) from None
    except json.JSONDecodeError as exc:
        raise SubmissionRejected(
            f"the submitted file is not valid JSON (line {exc.lineno}: {exc.msg}), "
            "so not a notebook"
        ) from None
    if not isinstance(raw, dict) or "cells" not in raw or "nbformat" not in raw:
        raise SubmissionRejected("the submitted file is JSON but not a Jupyter notebook")
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:
        raise SubmissionRejected(
            f"the submitted file is not a valid Jupyter notebook ({type(exc).__name__}: "
            f"{str(exc)[:160]})"
        ) from None
    return nb


def read_submission(nb: nbformat.NotebookNode, assignment: Assignment) -> Submission:
    """Take the answer cells (by grade_id) and note every change to the locked cells.

    Only the sources of the answer cells are used; locked cells, test cells and metadata come
    from the instructor's copy whatever the submission holds. Raises :class:`SubmissionRejected`
    when the notebook shares too few fixed cells with this assignment.
    """
    released = {}
    for cell in assignment.released.cells:
        meta = cell.metadata.get("nbgrader")
        if isinstance(meta, dict):
            released[meta["grade_id"]] = cell
    fixed = {
        _normalized(c.source)
        for c in assignment.released.cells
        if nbgrader_role(c) != "solution" and c.source.strip()
    }
    present = {_normalized(c.get("source", "")) for c in nb.cells}
    shared = len(fixed & present) / max(1, len(fixed))
    if shared < MIN_SHARED_CELLS:
        raise SubmissionRejected(
            f"not a notebook of this assignment ({assignment.name}): "
            f"only {shared:.0%} of its cells were found; "
            "was the right notebook submitted?"
        )
    answers: dict[str, str] = {}
    notes: list[str] = []
    found: set[str] = set()
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if not isinstance(meta, dict):
            continue
        gid = meta.get("grade_id")
        if not isinstance(gid, str) or gid not in released:
            notes.append(f"a cell claims the unknown grade_id {str(gid)[:40]!r}: ignored")
            continue
        if gid in found:
            notes.append(f"cell {gid} appears more than once: the first copy was used")
            continue
        found.add(gid)
        original = released[gid]
        if gid in assignment.solution_ids:
            if cell.cell_type != "code":
                notes.append(
                    f"answer cell {gid} was turned into a {cell.cell_type} cell: no answer"
                )
                continue
            answers[gid] = cell.source
            continue
        if (
            _normalized(cell.source) != _normalized(original.source)
            or cell.cell_type != original.cell_type
        ):
            notes.append(f"locked cell {gid} was edited: the original was used")
        if meta != original.metadata["nbgrader"]:
            notes.append(f"the grading metadata of cell {gid} was changed: the original was used")
    for gid in released:
        if gid not in found:
            kind = "answer" if gid in assignment.solution_ids else "locked"
            notes.append(
                f"{kind} cell {gid} is missing from the submission"
                + ("" if kind == "answer" else ": the original was used")
            )
    unanswered = [
        gid
        for gid in assignment.solution_ids
        if _normalized(answers.get(gid, released[gid].source)) == _normalized(released[gid].source)
    ]
    return Submission(answers=answers, unanswered=unanswered, notes=notes)


def instructor_answers(assignment: Assignment) -> dict[str, str]:
    """The instructor's own answer cells (the reference solution)."""
    return {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in assignment.notebook.cells
        if nbgrader_role(c) == "solution"
    }


def build_program(assignment: Assignment, answers: dict[str, str]) -> Program:
    """The cells to run: the instructor's notebook with the student's answer cells put in.

    Phase 1 runs every code cell up to the last test cell except the test cells (answer cells
    hold the student's code, or the stub when missing); phase 2 runs the test cells, each in
    its own namespace (see :mod:`course_utils.grading`).
    """
    last_test = max(t.index for t in assignment.tests)
    tests_by_index = {t.index: t for t in assignment.tests}
    steps: list[Step] = []
    instructor_names: set[str] = set()
    solution_names: set[str] = set()
    prelude: list[str] = []
    instructor_sources: list[str] = []
    released = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in assignment.released.cells
        if nbgrader_role(c) == "solution"
    }
    for index, cell in enumerate(assignment.notebook.cells[: last_test + 1]):
        if cell.cell_type != "code" or index in tests_by_index:
            continue
        source = python_source(cell.source)
        if nbgrader_role(cell) == "solution":
            gid = cell.metadata["nbgrader"]["grade_id"]
            solution_names.update(bound_names(source))
            prelude.extend(import_statements(source))
            instructor_sources.append(source)
            student = python_source(answers.get(gid, released[gid]))
            steps.append(Step(kind="student", label=gid, source=student, assigns=()))
        else:
            names = bound_names(source)
            instructor_names.update(names)
            instructor_sources.append(source)
            steps.append(
                Step(kind="instructor", label=f"cell {index}", source=source, assigns=names)
            )
    tests = []
    for test in assignment.tests:
        visible, hidden = (
            python_source(test.visible),
            python_source(test.hidden) if test.hidden.strip() else "",
        )
        instructor_sources += [visible, hidden]
        assigns = tuple(sorted(set(bound_names(visible)) | set(bound_names(hidden))))
        tests.append(
            TestSpec(grade_id=test.grade_id, visible=visible, hidden=hidden, assigns=assigns)
        )
    prelude_names = {name for line in prelude for name in bound_names(line)}
    api = sorted(solution_names - instructor_names - prelude_names)
    return Program(
        steps=tuple(steps),
        tests=tuple(tests),
        api_names=tuple(api),
        test_prelude="\n".join(dict.fromkeys(prelude)),
        preimport=tuple(sorted(imported_modules(instructor_sources))),
    )
