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
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import stat
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from ..cache import atomic_write, file_digest, sha256_hex
from . import isolation
from .assignment import (
    Assignment,
    Submission,
    SubmissionRejected,
    build_program,
    instructor_answers,
    parse_submission_bytes,
    read_submission,
)
from .probes import ProbeError, compare, decode_list
from .sandbox import (
    Limits,
    Outcome,
    Program,
    RunResult,
    allow_runs,
    escape_controls,
    run_program,
    stop_all,
)

#: Part of every cache key: bump when grading semantics change so old results are re-graded.
#: 2: hidden tests are probes compared with the reference run in the grading process.
GRADER_VERSION = "2"
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


def reference_run(assignment: Assignment, limits: Limits) -> tuple[RunResult, dict[str, list]]:
    """Run the instructor's solutions in a sandbox: the run, and its probes per test cell (the
    expected values of the hidden tests; they never enter a student's sandbox). Raises
    :class:`GradingError` when the reference itself fails in the grader."""
    run = run_program(build_program(assignment, instructor_answers(assignment)), limits)
    if run.grader_error:
        raise GradingError(
            f"the reference solution could not run in the grader: {run.grader_error}\n"
            f"{run.log_tail[-1500:]}"
        )
    probes: dict[str, list] = {}
    for test in assignment.tests:
        parts = run.tests.get(test.grade_id, {})
        for part in ("visible", "hidden"):
            outcome = parts.get(part, Outcome("none"))
            if outcome.status not in ("passed", "none"):
                raise GradingError(
                    f"the reference solution fails {test.grade_id} ({part}) in the grader: "
                    f"{outcome.error_type}: {outcome.message}"
                )
        try:
            probes[test.grade_id] = decode_list(parts.get("hidden", Outcome("none")).probes or "[]")
        except ProbeError as exc:
            raise GradingError(f"the reference's probes for {test.grade_id}: {exc}") from None
        if test.hidden.strip() and not probes[test.grade_id]:
            raise GradingError(
                f"{test.grade_id}: the hidden tests make no probe() (see notebooks/README.md)"
            )
    return run, probes


def hidden_verdict(outcome: Outcome, reference: list) -> dict:
    """Compare a run's probes with the reference's, here in the grading process."""
    try:
        mine = decode_list(outcome.probes or "[]")
    except ProbeError as exc:
        return {"status": "failed", "matching": 0, "total": len(reference), "detail": str(exc)}
    matching, total, detail = compare(mine, reference)
    passed = matching == total and len(mine) == total
    return {
        "status": "passed" if passed else "failed",
        "matching": matching,
        "total": total,
        "detail": detail,
        "worker_status": outcome.status,
        "error_type": outcome.error_type,
    }


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
        "isolation": "",
    }


def rejected_result(
    student: str, assignment: Assignment, key: str, source: str, sha: str, reason: str
) -> dict:
    """A zero with the reason (not a notebook, not this assignment, nothing submitted)."""
    result = new_result(student, assignment, key, source, sha)
    result.update(status="rejected", reason=reason)
    return result


#: Largest submission file read (a course notebook without outputs is well under 1 MB).
MAX_SUBMISSION_BYTES = 20 * 2**20


def read_limited(path: Path) -> bytes:
    """The submission's bytes; a symbolic link, a non-regular file or a huge file is refused."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionRejected("not a regular file")
        if info.st_size > MAX_SUBMISSION_BYTES:
            raise SubmissionRejected(
                f"the file is {info.st_size / 2**20:.0f} MB, larger than "
                f"{MAX_SUBMISSION_BYTES // 2**20} MB: clear the outputs and submit again"
            )
        with os.fdopen(os.dup(fd), "rb") as stream:
            return stream.read(MAX_SUBMISSION_BYTES + 1)
    finally:
        os.close(fd)


def grade_submission(
    assignment: Assignment,
    path: Path,
    student: str,
    limits: Limits,
    key: str | None = None,
    reference: dict[str, list] | None = None,
) -> dict:
    """Grade one submitted notebook; never raises for anything inside the submission: whatever
    goes wrong becomes this student's row (``rejected`` with the reason, or ``error``)."""
    key = key or assignment_key(assignment, limits)
    if reference is None:
        reference = reference_run(assignment, limits)[1]
    sha = ""
    try:
        if path.is_symlink():
            raise SubmissionRejected("the submission is a symbolic link: submit the notebook file")
        try:
            data = read_limited(path)
        except OSError as exc:
            raise SubmissionRejected(
                f"the file could not be read ({exc.strerror or type(exc).__name__})"
            ) from None
        sha = sha256_hex(data)
        try:
            submission = read_submission(parse_submission_bytes(data), assignment)
            program = build_program(assignment, submission.answers)
        except (RecursionError, MemoryError, ValueError, TypeError) as exc:
            if isinstance(exc, SubmissionRejected):
                raise
            raise SubmissionRejected(
                f"the notebook could not be read ({type(exc).__name__}: nested or large beyond "
                "what the grader reads)"
            ) from None
    except SubmissionRejected as exc:
        return rejected_result(student, assignment, key, path.name, sha, str(exc))
    try:
        return result_from_run(
            new_result(student, assignment, key, path.name, sha),
            assignment,
            submission,
            program,
            run_program(program, limits),
            reference,
        )
    except Exception as exc:
        result = new_result(student, assignment, key, path.name, sha)
        result.update(
            status="error",
            reason=f"the grader failed on this submission ({type(exc).__name__}: {exc})"[:300],
        )
        return result


def result_from_run(
    result: dict,
    assignment: Assignment,
    submission: Submission,
    program: Program,
    run: RunResult,
    reference: dict[str, list],
) -> dict:
    """Fill a result (from :func:`new_result`) with the points, answer states and notes of a run.

    A test cell earns its points when its visible part passed in the sandbox and every probe of
    its hidden part equals the reference's (compared here, never in the sandbox)."""
    hidden_of = {t.grade_id: bool(t.hidden.strip()) for t in assignment.tests}
    for entry in result["tests"]:
        parts = run.tests.get(entry["grade_id"], {})
        visible = parts.get("visible", Outcome("failed", "GraderError", "not run"))
        hidden = parts.get("hidden", Outcome("none"))
        entry["visible"] = asdict(visible)
        if hidden_of.get(entry["grade_id"]):
            entry["hidden"] = hidden_verdict(hidden, reference.get(entry["grade_id"], []))
            if hidden.status in ("timeout", "crashed"):
                entry["hidden"]["detail"] = hidden.message
        else:
            entry["hidden"] = {"status": "none"}
        entry["passed"] = visible.passed and entry["hidden"]["status"] in ("passed", "none")
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
        log_tail=run.log_tail[-2000:],
        isolation=run.isolation,
    )
    if run.isolation.startswith("none"):
        result["notes"].append(f"graded WITHOUT isolation ({run.isolation[6:]})")
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
    detail = hidden.get("detail") or ""
    return "visible tests passed; hidden tests failed" + (f": {detail}" if detail else "")


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
    windows = hidden_windows(assignment)
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
                withheld(
                    test_feedback(entry, visible[entry["grade_id"]], limits.memory_mb), windows
                )
                .replace("|", "\\|")
                .replace("\n", " ")
            )
            out.append(
                f"| {entry['grade_id']} | {_points(entry['points'])} / "
                f"{_points(entry['max_points'])} | {text} |"
            )
        out += ["", "Your answer cells:", ""]
        out += [
            f"- {a['grade_id']}: {withheld(answer_feedback(a), windows)}" for a in result["answers"]
        ]
        out.append("")
    if result["notes"]:
        out += ["Notes:", ""] + [f"- {withheld(note, windows)}" for note in result["notes"]] + [""]
    out += [
        "Grading runs the instructor's copy of the notebook with your answer cells put in; "
        "only the answer",
        "cells of your notebook are used. Hidden tests report only passed or failed.",
        "",
    ]
    return "\n".join(out)


#: Sandbox text that shares this many consecutive characters with a hidden test is withheld.
QUOTE_WINDOW = 16


def _windows(text: str) -> set[str]:
    out: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        out.update(line[i : i + QUOTE_WINDOW] for i in range(len(line) - QUOTE_WINDOW + 1))
    return out


def hidden_windows(assignment: Assignment) -> set[str]:
    """Every :data:`QUOTE_WINDOW`-character piece of the hidden tests that the student's version
    of the notebook does not contain anyway."""
    hidden = _windows("\n".join(t.hidden for t in assignment.tests))
    public = _windows("\n".join(c.source for c in assignment.released.cells))
    return hidden - public


def withheld(text: str, windows: set[str]) -> str:
    """``text`` unless it quotes the hidden tests.

    Their source (inputs and labels, never expected values) is sent into the student's sandbox
    to be evaluated there, so code in the sandbox can copy it into a message that feedback would
    quote. Such a message is replaced as a whole."""
    flat = text.replace("\\u000a", "\n")
    for piece in flat.splitlines():
        piece = piece.strip()
        if any(
            piece[i : i + QUOTE_WINDOW] in windows
            for i in range(max(0, len(piece) - QUOTE_WINDOW + 1))
        ):
            return "(message withheld: it quotes the hidden tests)"
    return text


# ---- the gradebook ----------------------------------------------------------------------------


def _csv_cell(text: str) -> str:
    """Keep spreadsheet programs from reading a student-chosen name as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def gradebook_csv(assignment: Assignment, results: list[dict]) -> str:
    """One row per student (sorted): points per test cell, total, max, status, notes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["student", *assignment.test_ids, "total", "max", "status", "notes", "review", "isolated"]
    )
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
                _csv_cell(notes[:300]),
                ", ".join(result["review"]),
                {"": "", "n": "NO"}.get(result.get("isolation", "")[:1], "yes"),
            ]
        )
    return buffer.getvalue()


#: Longest student id kept as is; longer ones are cut and given a hash suffix.
MAX_ID_CHARS = 80
#: Folders in a submissions folder that are never submissions.
IGNORED_DIRS = (".ipynb_checkpoints", ".git", "__MACOSX")


def display_id(name: str) -> str:
    """A student id safe for terminals and spreadsheets: control, format (bidi) and private-use
    characters escaped as ``\\uXXXX``; over :data:`MAX_ID_CHARS` characters cut, with a hash of
    the full name so that two long names stay apart."""
    text = escape_controls(name)
    if len(text) > MAX_ID_CHARS:
        digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:10]
        text = f"{text[: MAX_ID_CHARS - 12]}~{digest}"
    return text


def file_stem(student: str) -> str:
    """The name of a student's files under ``--out``: letters, digits, ``._-`` only, at most 90
    characters, never hidden; a hash of the id is added whenever anything was changed."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", student)[:60].lstrip(".") or "_"
    if safe == student:
        return safe
    return f"{safe}-{hashlib.sha256(student.encode('utf-8', 'surrogateescape')).hexdigest()[:12]}"


def _symlinked(path: Path, top: Path) -> bool:
    """Whether ``path`` or a folder between ``top`` and it is a symbolic link."""
    while True:
        if path.is_symlink():
            return True
        if path == top or path.parent == path:
            return False
        path = path.parent


def discover_submissions(folder: Path, notebook_name: str) -> list[tuple[str, Path | None, str]]:
    """(student, notebook or None, problem) for each student in ``folder``.

    A student submits ``folder/<student>.ipynb`` or ``folder/<student>/.../*.ipynb``.

    In a student's folder the notebook named like the assignment wins; otherwise the only
    notebook there (searched two levels deep, so nbgrader's ``<student>/<assignment>/`` works).
    Nothing is silently dropped: a symbolic link, a hidden ``.ipynb`` or a notebook folder that
    cannot be used gets a row with the reason. Student ids are made safe with :func:`display_id`.
    """
    if not folder.is_dir():
        raise GradingError(f"{folder}: no such folder of submissions")
    found: dict[str, tuple[Path | None, str]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name in IGNORED_DIRS:
            continue
        raw = entry.stem if entry.name.endswith(".ipynb") else entry.name
        student, path, problem = display_id(raw), None, ""
        if entry.is_symlink():
            if not entry.name.endswith(".ipynb") and not entry.is_dir():
                continue
            problem = "the submission is a symbolic link: submit the notebook file itself"
        elif entry.is_file():
            if entry.suffix != ".ipynb":
                continue
            path = entry
            if entry.name.startswith("."):
                path, problem = (
                    None,
                    ("a hidden file (its name starts with '.'): rename it and submit again"),
                )
        elif entry.is_dir():
            candidates, links = [], []
            for root, dirs, files in os.walk(entry):  # does not follow folder links
                depth = len(Path(root).relative_to(entry).parts)
                dirs[:] = [d for d in dirs if d not in IGNORED_DIRS and depth < 2]
                links += [d for d in dirs if (Path(root) / d).is_symlink()]
                for name in files:
                    if name.endswith(".ipynb"):
                        p = Path(root) / name
                        (links if p.is_symlink() else candidates).append(p)
            candidates.sort()
            named = [p for p in candidates if p.name == notebook_name]
            if links:
                problem = "the submission holds symbolic links: submit the notebook file itself"
            elif len(named) == 1:
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
            if path is not None and _symlinked(path, entry):
                path, problem = None, "the submission is reached through a symbolic link"
        else:
            continue
        if student in found:
            raise GradingError(
                f"two submissions for student {student!r} in {folder} (a file and a folder?): "
                "keep one"
            )
        found[student] = (path, problem)
    stems: dict[str, str] = {}
    for student in found:
        stem = file_stem(student)
        if stem.lower() in stems:
            raise GradingError(
                f"students {stems[stem.lower()]!r} and {student!r} would share the result files "
                f"{stem}.*: rename one"
            )
        stems[stem.lower()] = student
    return [(student, path, problem) for student, (path, problem) in found.items()]


def _sha256_of(path: Path) -> str:
    try:
        return file_digest(path)
    except OSError:
        return ""


KEY_FILE = ".grader-key"


def _signing_key(out: Path) -> bytes:
    """The key that authenticates cached results: random, made once, readable only by the TA,
    kept in ``--out`` (a worker's sandbox never sees that folder)."""
    path = out / KEY_FILE
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except OSError:
        pass
    key = secrets.token_bytes(32)
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as stream:
        stream.write(key)
    return key


def _signature(result: dict, key: bytes) -> str:
    body = json.dumps({k: v for k, v in result.items() if k != "hmac"}, sort_keys=True)
    return hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()


def _cached(path: Path, sha: str, key: str, signing_key: bytes) -> dict | None:
    """A saved result, if it is for this submission and assignment and its HMAC is right (a
    result file edited or planted by anyone without the key is graded again)."""
    try:
        if path.is_symlink() or path.stat().st_size > 4 * 2**20:
            return None
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if (
        isinstance(result, dict)
        and result.get("submission_sha256") == sha
        and result.get("key") == key
        and result.get("status") != "error"
        and hmac.compare_digest(str(result.get("hmac", "")), _signature(result, signing_key))
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
        and any(p.name != KEY_FILE for p in out.iterdir())
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
    ignored = sorted(
        display_id(p.name)
        for p in submissions.iterdir()
        if p.name not in IGNORED_DIRS and not p.is_dir() and not p.name.endswith(".ipynb")
    )
    if ignored:
        progress(
            f"ignored {len(ignored)} file(s) that are not notebooks: {', '.join(ignored[:10])}"
            + (" ..." if len(ignored) > 10 else "")
        )
    isolated, how = isolation.resolve(limits.isolation)  # "required" and unavailable: stop here
    if not isolated:
        progress(
            f"WARNING: grading WITHOUT isolation ({how[6:]}). Student code can read and write "
            "what you can (the instructor notebook, this output folder, your files) and use the "
            "network; every row is flagged. Install bubblewrap (apt-get install bubblewrap)."
        )
    key = assignment_key(assignment, limits)
    signing_key = _signing_key(out)
    results: dict[str, dict] = {}
    lock = threading.Lock()
    todo: list[tuple[str, Path]] = []

    def save(result: dict, note: str) -> None:
        with lock:
            student = result["student"]
            result["hmac"] = _signature(result, signing_key)
            results[student] = result
            stem = file_stem(student)
            atomic_write(
                out / "results" / f"{stem}.json",
                json.dumps(result, indent=1, sort_keys=True) + "\n",
            )
            atomic_write(
                out / "feedback" / f"{stem}.md", feedback_markdown(result, assignment, limits)
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
            None
            if regrade
            else _cached(
                out / "results" / f"{file_stem(student)}.json",
                _sha256_of(path),
                key,
                signing_key,
            )
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
    reference: dict[str, list] = {}
    if todo:
        progress("running the reference solution (the hidden tests' expected values) ...")
        reference_seconds = time.monotonic()
        reference = reference_run(assignment, limits)[1]
        progress(f"reference done in {time.monotonic() - reference_seconds:.1f} s")
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = {
            pool.submit(grade_submission, assignment, path, student, limits, key, reference): (
                student,
                path,
            )
            for student, path in todo
        }
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as exc:
                student, path = futures[future]
                result = new_result(student, assignment, key, path.name, "")
                result.update(
                    status="error",
                    reason=f"the grader failed on this submission ({type(exc).__name__})",
                )
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
