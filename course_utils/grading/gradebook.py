"""Grade a folder of submissions: per-student results (cached), feedback files, the gradebook CSV.

Layout of ``--out`` (default ``grades/<assignment>``)::

    gradebook.csv            one row per student: points per test cell, total, max, status,
                             notes, review
    feedback/<student>.md    what the student may see (no hidden-test source, messages or
                             tracebacks)
    results/<student>.json   everything, for TAs; also the cache that makes re-runs idempotent

Every file is written to a temporary name and moved into place (``os.replace``), and each
student's result is saved as soon as it is known, so an interrupted run loses no finished grade
and the next run grades only what is missing or changed.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from ..cache import atomic_write, file_digest, sha256_hex
from .assignment import (
    Assignment,
    Submission,
    SubmissionRejected,
    build_program,
    parse_submission_bytes,
    read_submission,
)
from .sandbox import Limits, Outcome, Program, RunResult, allow_runs, run_program, stop_all

#: Part of every cache key: bump when grading semantics change so old results are re-graded.
GRADER_VERSION = "1"
#: Patterns in answer cells that a TA should look at (tools that attack the grader itself).
REVIEW_PATTERNS = {
    "frame/garbage-collector introspection": (
        r"_getframe|\bf_back\b|\bf_locals\b|\bf_globals\b|\btb_frame\b|\bf_trace\b|currentframe|inspect\.stack|\bgc\."
    ),
    "ctypes": r"\bctypes\b",
    "tracing or audit hooks": r"settrace|setprofile|addaudithook",
    "builtins or module table": r"\b__builtins__\b|\bimport builtins\b|\bbuiltins\.|sys\.modules",
    "raw files or descriptors": r"os\.(read|write|dup2?|fdopen|open|pipe)\b|/proc/|/dev/fd",
    "processes, threads or signals": (
        r"\bos\.fork\b|subprocess|multiprocessing|\bthreading\b|\b_thread\b|os\.system|os\.exec|os\.kill|\bsignal\."
    ),
    "exiting the process": r"os\._exit|os\.abort|sys\.exit|SystemExit",
    "IPython internals": r"get_ipython|input_transformers",
    "monkeypatching": r"\bsetattr\(|__code__|__class__\s*=|__dict__\s*\[|\bglobals\(\)",
}


class GradingError(ValueError):
    """Bad input for a grading run (missing folder, clashing student ids...); the message says."""


def assignment_key(assignment: Assignment, limits: Limits) -> str:
    """Cache key part that changes with the instructor notebook, the grader and the limits."""
    return sha256_hex(f"{GRADER_VERSION}|{assignment.sha256}|{limits.key()}")


def review_flags(answers: dict[str, str]) -> list[str]:
    """Names of :data:`REVIEW_PATTERNS` found in the answer cells (for the TA, not the student)."""
    text = "\n".join(answers.values())
    return [name for name, pattern in REVIEW_PATTERNS.items() if re.search(pattern, text)]


def _points(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def new_result(student: str, assignment: Assignment, key: str, source: str, sha: str) -> dict:
    """An empty result: every test at 0 points, status ``graded``."""
    return {
        "student": student,
        "assignment": assignment.name,
        "submission": source,
        "submission_sha256": sha,
        "key": key,
        "status": "graded",
        "reason": "",
        "score": 0.0,
        "max_score": assignment.max_score,
        "tests": [
            {
                "grade_id": t.grade_id,
                "points": 0.0,
                "max_points": t.points,
                "passed": False,
                "has_hidden": bool(t.hidden.strip()),
                "visible": None,
                "hidden": None,
            }
            for t in assignment.tests
        ],
        "answers": [],
        "notes": [],
        "review": [],
        "seconds": 0.0,
        "restarts": 0,
        "peak_memory_mb": 0.0,
        "log_tail": "",
    }


def rejected_result(
    student: str, assignment: Assignment, key: str, source: str, sha: str, reason: str
) -> dict:
    """A zero with the reason (not a notebook, not this assignment, nothing submitted)."""
    result = new_result(student, assignment, key, source, sha)
    result.update(status="rejected", reason=reason)
    return result


def grade_submission(
    assignment: Assignment, path: Path, student: str, limits: Limits, key: str | None = None
) -> dict:
    """Grade one submitted notebook; never raises for anything inside the submission."""
    key = key or assignment_key(assignment, limits)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return rejected_result(
            student, assignment, key, path.name, "", f"the file could not be read ({exc.strerror})"
        )
    sha = sha256_hex(data)
    try:
        submission = read_submission(parse_submission_bytes(data), assignment)
    except SubmissionRejected as exc:
        return rejected_result(student, assignment, key, path.name, sha, str(exc))
    program = build_program(assignment, submission.answers)
    return result_from_run(
        new_result(student, assignment, key, path.name, sha),
        assignment,
        submission,
        program,
        run_program(program, limits),
    )


def result_from_run(
    result: dict, assignment: Assignment, submission: Submission, program: Program, run: RunResult
) -> dict:
    """Fill a result (from :func:`new_result`) with the points, answer states and notes of a run."""
    for entry in result["tests"]:
        parts = run.tests.get(entry["grade_id"], {})
        visible = parts.get("visible", Outcome("failed", "GraderError", "not run"))
        hidden = parts.get("hidden", Outcome("none"))
        entry["visible"], entry["hidden"] = asdict(visible), asdict(hidden)
        entry["passed"] = visible.passed and hidden.status in ("passed", "none")
        entry["points"] = entry["max_points"] if entry["passed"] else 0.0
    step_of = {
        step.label: number for number, step in enumerate(program.steps) if step.kind == "student"
    }
    for gid in assignment.solution_ids:
        outcome = run.steps.get(step_of.get(gid, -1), Outcome("none"))
        status = (
            "missing"
            if gid in submission.unanswered
            else ("ok" if outcome.status in ("passed", "none") else outcome.status)
        )
        result["answers"].append({"grade_id": gid, "status": status, "outcome": asdict(outcome)})
    notes = list(dict.fromkeys(submission.notes + run.notes))
    result["notes"] = notes[:12] + (
        [f"... and {len(notes) - 12} more notes"] if len(notes) > 12 else []
    )
    if run.restarts:
        result["notes"].append(
            f"the grader restarted {run.restarts} time(s) after a cell or test hung or crashed"
        )
    if not run.memory_limited:
        result["notes"].append("memory limit not enforced on this operating system")
    result["review"] = review_flags(submission.answers)
    result["score"] = float(sum(t["points"] for t in result["tests"]))
    result.update(
        seconds=round(run.seconds, 2),
        restarts=run.restarts,
        peak_memory_mb=round(run.peak_memory_mb),
        log_tail=run.log_tail,
    )
    if run.grader_error:
        result.update(status="error", reason=run.grader_error)
    return result


# ---- feedback ----------------------------------------------------------------------------------


def _visible_text(outcome: dict, visible_source: str, memory_mb: int) -> str:
    kind, message = outcome.get("error_type", ""), outcome.get("message", "")
    if outcome["status"] == "timeout":
        return f"failed: {message or 'time limit'}"
    if outcome["status"] == "crashed":
        return f"failed: {message}"
    if kind == "NotImplementedError":
        return "not answered yet: the answer cell still raises NotImplementedError"
    if kind == "MemoryError":
        return f"failed: MemoryError (the grader's memory limit is {memory_mb} MB)"
    text = f"failed: {kind}" + (f": {message}" if message else "")
    line = outcome.get("line") or 0
    lines = visible_source.split("\n")
    if 0 < line <= len(lines):
        text += f" (test line {line}: `{lines[line - 1].strip()[:120]}`)"
    return text


def test_feedback(entry: dict, visible_source: str, memory_mb: int) -> str:
    """One line for the student: never the hidden tests' source, messages or tracebacks."""
    if entry["passed"]:
        return "passed" + (" (visible and hidden tests)" if entry["has_hidden"] else "")
    visible, hidden = entry.get("visible") or {}, entry.get("hidden") or {}
    if visible.get("status") != "passed":
        return _visible_text(visible, visible_source, memory_mb) if visible else "not run"
    reason = {"timeout": " (time limit)", "crashed": " (the grader process crashed)"}.get(
        hidden.get("status", ""), ""
    )
    return f"visible tests passed; hidden tests failed{reason}"


def answer_feedback(answer: dict) -> str:
    outcome = answer["outcome"]
    status = answer["status"]
    if status == "missing":
        return "no answer (the cell is as released)"
    if status == "ok":
        return "ran"
    detail = f"{outcome.get('error_type', '')}: {outcome.get('message', '')}".strip(": ")
    line = outcome.get("line") or 0
    return f"{status}: {detail}" + (f" (line {line} of your cell)" if line else "")


def feedback_markdown(result: dict, assignment: Assignment, limits: Limits) -> str:
    """The student's feedback file (Markdown); deterministic for a given result."""
    visible = {t.grade_id: t.visible for t in assignment.tests}
    out = [
        f"# Feedback: {assignment.name}",
        "",
        f"Student: {result['student']}  ",
        f"Submission: `{result['submission'] or '(none)'}`  ",
        f"**Score: {_points(result['score'])} / {_points(result['max_score'])}**",
        "",
    ]
    if result["status"] == "rejected":
        out += [f"Your submission could not be graded: {result['reason']}.", ""]
    elif result["status"] == "error":
        out += ["Grading stopped for a reason outside your code; your TA will grade it again.", ""]
    if result["status"] != "rejected":
        out += ["| test | points | result |", "|---|---:|---|"]
        for entry in result["tests"]:
            text = (
                test_feedback(entry, visible[entry["grade_id"]], limits.memory_mb)
                .replace("|", "\\|")
                .replace("\n", " ")
            )
            out.append(
                f"| {entry['grade_id']} | {_points(entry['points'])} / "
                f"{_points(entry['max_points'])} | {text} |"
            )
        out += ["", "Your answer cells:", ""]
        out += [f"- {a['grade_id']}: {answer_feedback(a)}" for a in result["answers"]]
        out.append("")
    if result["notes"]:
        out += ["Notes:", ""] + [f"- {note}" for note in result["notes"]] + [""]
    out += [
        "Grading runs the instructor's copy of the notebook with your answer cells put in; "
        "only the answer",
        "cells of your notebook are used. Hidden tests report only passed or failed.",
        "",
    ]
    return "\n".join(out)


# ---- the gradebook ----------------------------------------------------------------------------


def _csv_cell(text: str) -> str:
    """Keep spreadsheet programs from reading a student-chosen name as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def gradebook_csv(assignment: Assignment, results: list[dict]) -> str:
    """One row per student (sorted): points per test cell, total, max, status, notes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *assignment.test_ids, "total", "max", "status", "notes", "review"])
    for result in sorted(results, key=lambda r: r["student"]):
        points = {t["grade_id"]: _points(t["points"]) for t in result["tests"]}
        notes = result["reason"] or "; ".join(result["notes"])
        writer.writerow(
            [
                _csv_cell(result["student"]),
                *(points.get(gid, "0") for gid in assignment.test_ids),
                _points(result["score"]),
                _points(result["max_score"]),
                result["status"],
                notes[:300],
                ", ".join(result["review"]),
            ]
        )
    return buffer.getvalue()


def discover_submissions(folder: Path, notebook_name: str) -> list[tuple[str, Path | None, str]]:
    """(student, notebook or None, problem) for each student in ``folder``.

    A student submits ``folder/<student>.ipynb`` or ``folder/<student>/.../*.ipynb``.

    In a student's folder the notebook named like the assignment wins; otherwise the only
    notebook there (searched two levels deep, so nbgrader's ``<student>/<assignment>/`` works).
    """
    if not folder.is_dir():
        raise GradingError(f"{folder}: no such folder of submissions")
    found: dict[str, tuple[Path | None, str]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            if entry.suffix != ".ipynb":
                continue
            student, path, problem = entry.stem, entry, ""
        elif entry.is_dir():
            student = entry.name
            candidates = sorted(
                p
                for p in entry.rglob("*.ipynb")
                if ".ipynb_checkpoints" not in p.parts
                and len(p.relative_to(entry).parts) <= 3
                and p.is_file()
            )
            named = [p for p in candidates if p.name == notebook_name]
            path, problem = None, ""
            if len(named) == 1:
                path = named[0]
            elif len(candidates) == 1:
                path = candidates[0]
            elif not candidates:
                problem = "no notebook was submitted"
            else:
                problem = (
                    f"{len(candidates)} notebooks were submitted and none or several are named "
                    f"{notebook_name}"
                )
        else:
            continue
        if student in found:
            raise GradingError(
                f"two submissions for student {student!r} in {folder} (a file and a folder?): "
                "keep one"
            )
        found[student] = (path, problem)
    return [(student, path, problem) for student, (path, problem) in found.items()]


def _sha256_of(path: Path) -> str:
    try:
        return file_digest(path)
    except OSError:
        return ""


def _cached(path: Path, sha: str, key: str) -> dict | None:
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        result.get("submission_sha256") == sha
        and result.get("key") == key
        and result.get("status") != "error"
    ):
        return result
    return None


def _check_output_folder(out: Path, submissions: Path, force: bool) -> None:
    if out.resolve().is_relative_to(submissions.resolve()):
        raise GradingError(
            f"--out {out} is inside the submissions folder {submissions}: choose another folder"
        )
    if (
        out.exists()
        and any(out.iterdir())
        and not (out / "gradebook.csv").exists()
        and not (out / "results").is_dir()
        and not force
    ):
        raise GradingError(
            f"{out} exists, is not empty and holds no earlier grading: "
            "choose another --out or pass --force"
        )


def grade_folder(
    assignment: Assignment,
    submissions: Path,
    out: Path,
    jobs: int = 1,
    limits: Limits = Limits(),
    regrade: bool = False,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Grade every submission in ``submissions`` into ``out``; the results, sorted by student."""
    progress = progress or (lambda line: print(line, flush=True))
    allow_runs()
    entries = discover_submissions(submissions, assignment.path.name)
    _check_output_folder(out, submissions, force)
    key = assignment_key(assignment, limits)
    results: dict[str, dict] = {}
    lock = threading.Lock()
    todo: list[tuple[str, Path]] = []

    def save(result: dict, note: str) -> None:
        with lock:
            student = result["student"]
            results[student] = result
            atomic_write(
                out / "results" / f"{student}.json",
                json.dumps(result, indent=1, sort_keys=True) + "\n",
            )
            atomic_write(
                out / "feedback" / f"{student}.md", feedback_markdown(result, assignment, limits)
            )
            atomic_write(out / "gradebook.csv", gradebook_csv(assignment, list(results.values())))
            progress(
                f"{student}: {_points(result['score'])}/{_points(result['max_score'])} "
                f"{result['status']}{note}"
            )

    for student, path, problem in entries:
        if path is None:
            save(rejected_result(student, assignment, key, "", "", problem), "")
            continue
        cached = (
            None if regrade else _cached(out / "results" / f"{student}.json", _sha256_of(path), key)
        )
        if cached is not None:
            with lock:
                results[student] = cached
        else:
            todo.append((student, path))
    reused = sum(1 for _, path, _ in entries if path is not None) - len(todo)
    if reused:
        progress(
            f"{reused} result(s) reused from {out / 'results'} (unchanged submissions; "
            "--regrade to grade again)"
        )
    start = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = [
            pool.submit(grade_submission, assignment, path, student, limits, key)
            for student, path in todo
        ]
        for future in as_completed(futures):
            result = future.result()
            save(result, f" ({result['seconds']:.1f} s)")
    except BaseException:
        stop_all()  # Ctrl-C: stop the workers now; every result saved so far stays
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    if todo:
        progress(
            f"graded {len(todo)} submission(s) in {time.monotonic() - start:.1f} s with {jobs} "
            "job(s)"
        )
    atomic_write(out / "gradebook.csv", gradebook_csv(assignment, list(results.values())))
    return [results[s] for s in sorted(results)]


def print_summary(results: list[dict], out: Path, stream=sys.stdout) -> None:
    """Counts by status and where the files are."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    print(
        f"{len(results)} student(s): {summary}. Gradebook: {out / 'gradebook.csv'}; feedback: "
        f"{out / 'feedback'}/",
        file=stream,
    )
    for result in results:
        if result["status"] == "error":
            print(f"  {result['student']}: grading error: {result['reason']}", file=stream)
        if result["review"]:
            print(
                f"  {result['student']}: review the answer cells ({', '.join(result['review'])})",
                file=stream,
            )
