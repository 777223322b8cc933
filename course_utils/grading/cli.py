"""``python -m course_utils.grading release | grade | validate`` (see docs/GRADING.md).

Exit codes: 0 success; 1 something to fix (a failing or unanswered exercise for ``validate``,
a grading error or an out-of-date release for the others); 2 bad input (missing folder, not an
assignment notebook, unsafe output folder).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from . import isolation
from .assignment import (
    MIN_SHARED_CELLS,
    AssignmentError,
    SubmissionRejected,
    build_program,
    load_assignment,
    parse_submission_bytes,
    read_submission,
)
from .gradebook import (
    GradingError,
    answer_feedback,
    grade_folder,
    new_result,
    print_summary,
    reference_run,
    result_from_run,
    test_feedback,
)
from .release import course_notebooks, release, release_problems, score_problems
from .sandbox import DEFAULT_MEMORY_MB, Limits, run_program

REPO = Path(__file__).resolve().parents[2]


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(
        cell_timeout=args.timeout,
        total_timeout=args.total_timeout,
        memory_mb=args.memory_mb,
        isolation=args.isolation,
    )


def _add_limit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=Limits.cell_timeout,
        help="seconds per cell and per test (default %(default)s)",
    )
    parser.add_argument(
        "--total-timeout",
        type=float,
        default=Limits.total_timeout,
        help="seconds per submission (default %(default)s)",
    )
    parser.add_argument(
        "--memory-mb",
        type=int,
        default=DEFAULT_MEMORY_MB,
        help=(
            "memory limit per submission, MB (data allocated: RLIMIT_DATA on Linux); "
            "0 = none (default %(default)s)"
        ),
    )
    parser.add_argument(
        "--isolation",
        choices=isolation.MODES,
        default=None,
        help=(
            "run student code in a bubblewrap sandbox: auto (when it works, else unisolated and "
            f"flagged), required, off (default ${isolation.MODE_ENV} or auto)"
        ),
    )


def cmd_release(args: argparse.Namespace) -> int:
    if args.check:
        problems = release_problems(args.source, args.out)
        if args.run:
            for path in course_notebooks(args.source):
                problems += score_problems(load_assignment(path), _limits(args))
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"release check: {len(problems)} problem(s)")
        return 1 if problems else 0
    written = release(args.source, args.out, force=args.force)
    for path in written:
        print(f"released {path}")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    assignment = load_assignment(args.assignment)
    out = args.out or Path("grades") / assignment.name
    results = grade_folder(
        assignment,
        args.submissions,
        out,
        jobs=args.jobs,
        limits=_limits(args),
        regrade=args.regrade,
        force=args.force,
    )
    print_summary(results, out)
    return 1 if any(r["status"] == "error" for r in results) else 0


def _reference_for(notebook: Path) -> Path:
    """The released notebook with the same name.

    Else the release notebook that shares most cells with it, else the notebook itself.
    """
    folder = REPO / "release"
    same = folder / notebook.name
    if same.is_file() and same.resolve() != notebook.resolve():
        return same
    best, best_share = notebook, 0.0
    try:
        submitted = {
            c.get("source", "").strip() for c in parse_submission_bytes(notebook.read_bytes()).cells
        }
    except SubmissionRejected:
        return notebook
    for candidate in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
        try:
            cells = [
                c.source.strip()
                for c in load_assignment(candidate).released.cells
                if c.source.strip()
            ]
        except AssignmentError:
            continue
        share = sum(c in submitted for c in cells) / max(1, len(cells))
        if share > best_share:
            best, best_share = candidate, share
    return best if best_share >= MIN_SHARED_CELLS else notebook


def cmd_validate(args: argparse.Namespace) -> int:
    notebook: Path = args.notebook
    if not notebook.is_file():
        print(f"{notebook}: no such file", file=sys.stderr)
        return 2
    reference = args.assignment or _reference_for(notebook)
    assignment = load_assignment(reference)
    print(
        f"Checking {notebook} against {reference} (visible "
        f"tests{', and hidden ones' if any(t.hidden.strip() for t in assignment.tests) else ''})."
    )
    try:
        submission = read_submission(parse_submission_bytes(notebook.read_bytes()), assignment)
    except SubmissionRejected as exc:
        print(f"NOT GRADABLE: {exc}")
        return 2
    limits = _limits(args)
    reference: dict[str, list] = {}
    if any(t.hidden.strip() for t in assignment.tests):
        reference = reference_run(assignment, limits)[1]
    program = build_program(assignment, submission.answers)
    run = run_program(program, limits)
    if run.grader_error:
        print(
            f"the checker could not run: {run.grader_error}\n{run.log_tail[-2000:]}",
            file=sys.stderr,
        )
        return 1
    result = result_from_run(
        new_result(notebook.stem, assignment, "", notebook.name, ""),
        assignment,
        submission,
        program,
        run,
        reference,
    )
    for note in result["notes"]:
        print(f"note: {note}")
    ok = True
    for answer in result["answers"]:
        if answer["status"] == "missing":
            print(f"MISSING ANSWER: {answer['grade_id']} still holds 'YOUR CODE HERE'")
        elif answer["status"] != "ok":
            print(f"ERROR in {answer['grade_id']}: {answer_feedback(answer)}")
        ok = ok and answer["status"] == "ok"
    visible = {t.grade_id: t.visible for t in assignment.tests}
    for entry in result["tests"]:
        text = test_feedback(entry, visible[entry["grade_id"]], limits.memory_mb)
        print(
            f"{'PASS' if entry['passed'] else 'FAIL'} {entry['grade_id']} "
            f"({entry['max_points']:g} points): {text}"
        )
        ok = ok and entry["passed"]
    print(
        "All visible tests pass and every exercise is answered."
        if ok
        else "Fix the problems above before submitting."
    )
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.grading",
        description="Release, grade and validate the course's exercises.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    rel = sub.add_parser(
        "release", help="write the student notebooks (solutions and hidden tests removed)"
    )
    rel.add_argument(
        "--source",
        type=Path,
        default=REPO / "notebooks",
        help="instructor notebooks (default notebooks/)",
    )
    rel.add_argument(
        "--out", type=Path, default=REPO / "release", help="output folder (default release/)"
    )
    rel.add_argument(
        "--force", action="store_true", help="write into a folder that is not an earlier release"
    )
    rel.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if --out is out of date or leaks solutions",
    )
    rel.add_argument(
        "--run",
        action="store_true",
        help=(
            "with --check: also grade the reference solutions (full marks) and the blank release "
            "(zero)"
        ),
    )
    _add_limit_options(rel)

    grade = sub.add_parser(
        "grade", help="grade a folder of submissions into a gradebook and feedback files"
    )
    grade.add_argument(
        "submissions", type=Path, help="folder with <student>.ipynb files or <student>/ folders"
    )
    grade.add_argument(
        "--assignment",
        type=Path,
        required=True,
        help="the instructor notebook, e.g. notebooks/02_functional_api.ipynb",
    )
    grade.add_argument(
        "-j", "--jobs", type=int, default=1, help="submissions graded in parallel (default 1)"
    )
    grade.add_argument("--out", type=Path, help="output folder (default grades/<assignment>)")
    grade.add_argument("--regrade", action="store_true", help="ignore cached results")
    grade.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty folder that holds no earlier grading",
    )
    _add_limit_options(grade)

    val = sub.add_parser(
        "validate", help="check a notebook before submitting it (runs the visible tests)"
    )
    val.add_argument("notebook", type=Path)
    val.add_argument(
        "--assignment",
        type=Path,
        help="the notebook to check against (default: release/<same name>)",
    )
    _add_limit_options(val)
    return parser


def main(argv: Iterable[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    if getattr(args, "jobs", 1) < 1:
        print("-j must be at least 1", file=sys.stderr)
        return 2
    try:
        return {"release": cmd_release, "grade": cmd_grade, "validate": cmd_validate}[args.command](
            args
        )
    except (AssignmentError, GradingError, isolation.IsolationUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: finished results are saved; run the same command again to continue",
            file=sys.stderr,
        )
        return 130


__all__ = ["build_parser", "main"]
