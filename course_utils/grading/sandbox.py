"""Run one submission's program in a fresh, limited worker process and collect trusted results.

The parent side of the protocol described in :mod:`course_utils.grading._worker`: it starts the
worker inside the bubblewrap sandbox of :mod:`.isolation` when it can (else unisolated, and the
result says so), with an empty scratch folder, a minimal environment, memory/CPU/file-size limits
the worker applies to itself and its own session; it feeds the job, paces phase 1 one cell at a
time on its own clock, and collects each test part's outcome and probe data. Nothing the worker
sends is trusted for a verdict: the probes are compared with the reference run's by
:mod:`.gradebook`. When the worker hangs or dies, the cell or test at fault is recorded and a
fresh worker goes on without it (at most ``Limits.max_restarts`` times).
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from . import isolation

WORKER = Path(__file__).with_name("_worker.py")
#: No user site-packages; with Python 3.11+ the worker's folder is not put on sys.path (-P).
PYTHON_FLAGS = ("-s", "-P") if sys.version_info >= (3, 11) else ("-s",)
#: The folder that holds the course_utils package the grader itself runs from.
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
#: Memory for one worker, as its data size (RLIMIT_DATA on Linux: heap and private writable
#: mappings, not reserved address space; see _worker.py). The course's notebooks stay well below
#: it (docs/PERFORMANCE.md, "Grading"); a memory bomb still stops at 6 GiB.
DEFAULT_MEMORY_MB = 6144
#: Modules whose functions, classes and submodules the tests may rely on; the modules that the
#: instructor's cells import are added to these.
PROTECTED_MODULES = (
    "numpy", "math", "cmath", "operator", "functools", "itertools", "collections", "copy",
    "json", "re", "random", "statistics", "decimal", "fractions", "keras", "course_utils",
    "sklearn", "scipy", "pandas",
)  # fmt: skip
#: Backends too large to snapshot on every test (thousands of modules); tests reach them through
#: keras.
UNPROTECTED = ("tensorflow", "jax", "jaxlib", "torch")
GRACE_SECONDS = 5.0
#: Longest message line read from a worker (probe payloads are hex-encoded JSON, at most
#: probes.MAX_TEST_BYTES before encoding).
MAX_LINE_BYTES = 6 << 20
#: At most this many notes per submission, each at most NOTE_CHARS characters.
MAX_NOTES, NOTE_CHARS = 20, 200
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()
_STOP = threading.Event()


def allow_runs() -> None:
    """Undo :func:`stop_all` (a new grading run starts)."""
    _STOP.clear()


def stop_all() -> None:
    """Kill every running worker and make running :func:`run_program` calls return (Ctrl-C)."""
    _STOP.set()
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission (the defaults suit the course's Keras-level exercises)."""

    #: Per cell and per test. The grader runs the notebook's teaching cells too (fast profile, one
    #: thread per pool): 09's longest trains four networks in about a minute on an idle 2-core
    #: machine and took over 120 s on a loaded one, so 300 s leaves room for slow laptops; an
    #: endless loop still costs at most this, and total_timeout bounds the whole submission.
    cell_timeout: float = 300.0
    total_timeout: float = 900.0
    memory_mb: int = DEFAULT_MEMORY_MB
    output_mb: int = 64
    max_restarts: int = 3
    #: "auto" (bubblewrap when it works, else unisolated and flagged), "required" or "off";
    #: None: $COURSE_GRADING_ISOLATION or "auto". Not part of the cache key: it changes how
    #: safely a submission runs, not what it scores.
    isolation: str | None = None

    def key(self) -> str:
        return (
            f"cell={self.cell_timeout:g},total={self.total_timeout:g},mem={self.memory_mb},"
            f"out={self.output_mb},restarts={self.max_restarts}"
        )


@dataclass(frozen=True)
class Step:
    """A phase-1 cell: the instructor's (``assigns``: names it binds) or the student's answer."""

    kind: str
    label: str
    source: str
    assigns: tuple[str, ...] = ()


@dataclass(frozen=True)
class TestSpec:
    """A test cell: visible part, hidden part (may be empty), names it binds."""

    grade_id: str
    visible: str
    hidden: str
    assigns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Program:
    """Everything the worker runs for one submission."""

    steps: tuple[Step, ...]
    tests: tuple[TestSpec, ...]
    api_names: tuple[str, ...] = ()
    test_prelude: str = ""
    preimport: tuple[str, ...] = ()
    #: run the hidden part even when the visible part failed (release checks of blank notebooks)
    keep_going: bool = False


@dataclass
class Outcome:
    """How a cell or a test part ended: passed / failed / timeout / crashed / skipped / none."""

    status: str
    error_type: str = ""
    message: str = ""
    line: int = 0
    #: the hidden part's probe records as sent by the worker (JSON text; untrusted)
    probes: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class RunResult:
    """What a run established: outcomes per phase-1 step and per test part, and notes."""

    steps: dict[int, Outcome] = field(default_factory=dict)
    tests: dict[str, dict[str, Outcome]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    grader_error: str = ""
    restarts: int = 0
    seconds: float = 0.0
    log_tail: str = ""
    memory_limited: bool = True
    peak_memory_mb: float = 0.0
    #: how the worker was isolated: "bubblewrap: ..." or "none: <why>"
    isolation: str = ""


class _Channel:
    """Reads the worker's messages (hex fields, one per line) with deadlines; skips garbage."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buffer, self.eof = fd, b"", False

    def next(self, deadline: float) -> list[str] | None:
        """The next well-formed message; None at the deadline; EOFError when the worker is gone."""
        while True:
            if b"\n" in self.buffer:
                line, _, self.buffer = self.buffer.partition(b"\n")
                try:
                    return [
                        bytes.fromhex(part.decode("ascii")).decode("utf-8")
                        for part in line.split(b" ")
                    ]
                except (ValueError, UnicodeDecodeError):
                    continue  # not ours: student code wrote to the pipe
            if self.eof:
                raise EOFError
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                self.eof = True
            self.buffer += chunk
            if len(self.buffer) > MAX_LINE_BYTES and b"\n" not in self.buffer:
                self.buffer = b""  # an endless line: not a message of ours


def escape_controls(text: str, keep: str = "") -> str:
    """``text`` safe for terminals, Markdown tables and CSV: control, format (bidi), private-use
    and surrogate characters written as ``\\uXXXX``, except those in ``keep``."""
    return "".join(
        ch
        if ch in keep or (ch.isprintable() and unicodedata.category(ch) not in ("Cf", "Co", "Cs"))
        else f"\\u{ord(ch):04x}"
        for ch in text
    )


def printable(text: str, limit: int) -> str:
    """Worker text made safe (:func:`escape_controls`, tabs kept), at most ``limit`` characters."""
    text = escape_controls(text[: limit * 2], keep="\t")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _hex_line(*fields: object) -> bytes:
    return (" ".join(str(f).encode("utf-8").hex() for f in fields) + "\n").encode("ascii")


def worker_environment(home: str) -> dict[str, str]:
    """A minimal environment: fast profile, offline, one thread per pool, this course_utils
    importable."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "COURSE_PROFILE": "fast",
        "COURSE_OFFLINE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": os.path.join(home, ".matplotlib"),
        "KERAS_HOME": os.path.join(home, ".keras"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "MALLOC_ARENA_MAX": "2",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONPATH": PACKAGE_ROOT,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",  # the log tail survives a worker killed mid-cell
    }
    for key in ("KERAS_BACKEND", "COURSE_DATA_DIR", "CUDA_VISIBLE_DEVICES", "JAX_PLATFORMS"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _stray_processes(group: int, keep: int) -> list[int]:
    """Other processes in the worker's process group (Linux /proc; elsewhere none are found)."""
    strays = []
    for entry in Path("/proc").glob("[0-9]*") if Path("/proc/self/stat").exists() else []:
        try:
            stat = (entry / "stat").read_text()
            pgid = int(stat.rsplit(")", 1)[1].split()[2])
        except (OSError, ValueError, IndexError):
            continue
        if pgid == group and int(entry.name) != keep:
            strays.append(int(entry.name))
    return strays


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _death_reason(proc: subprocess.Popen, limits: Limits) -> str:
    code = proc.poll()
    if code is None:
        return "the grader process stopped answering"
    if code < 0:
        name = (
            signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        )
        if -code == signal.SIGXCPU:
            return "CPU time limit exceeded"
        if -code == signal.SIGKILL:
            return f"killed (SIGKILL: out of memory or a limit; memory limit {limits.memory_mb} MB)"
        return f"the grader process died ({name})"
    return f"the grader process exited with code {code}"


class _Attempt:
    """One worker process: start, feed, read, kill."""

    def __init__(
        self, program: Program, limits: Limits, skips: dict[int, str], isolated: bool
    ) -> None:
        self.home = os.path.realpath(tempfile.mkdtemp(prefix="grading-"))
        self.log = tempfile.TemporaryFile()
        read_fd, write_fd = os.pipe()
        cpu = int(limits.total_timeout * 2 + 60)
        env = worker_environment(self.home)
        prefix: list[str] = []
        if isolated:
            prefix = isolation.bwrap_command(self.home, env, PACKAGE_ROOT)
            env = {"PATH": env["PATH"]}
        self.proc = subprocess.Popen(
            [
                *prefix,
                sys.executable,
                *PYTHON_FLAGS,
                str(WORKER),
                str(write_fd),
                str(limits.memory_mb),
                str(cpu),
                str(limits.output_mb),
            ],
            stdin=subprocess.PIPE,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.home,
            env=env,
            pass_fds=(write_fd,),
            start_new_session=True,
        )
        os.close(write_fd)
        with _LIVE_LOCK:
            _LIVE.add(self.proc)
        self.channel = _Channel(read_fd)
        self.read_fd = read_fd
        preimport = [m for m in program.preimport if m.split(".")[0] not in UNPROTECTED]
        preimport.append("course_utils.grading.probes")  # the hidden parts' probe()
        protect = sorted(set(PROTECTED_MODULES) | {m.split(".")[0] for m in preimport})
        job = {
            "cell_timeout": limits.cell_timeout,
            "steps": [
                {
                    "kind": s.kind,
                    "label": s.label,
                    "source": s.source,
                    "assigns": list(s.assigns),
                    "skip": skips.get(i, ""),
                }
                for i, s in enumerate(program.steps)
            ],
            "api_names": list(program.api_names),
            "test_prelude": program.test_prelude,
            "preimport": preimport,
            "protect": protect,
            "keep_going": program.keep_going,
        }
        self.send_raw(json.dumps(job).encode("utf-8") + b"\n")

    def send_raw(self, data: bytes) -> bool:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def kill_strays(self) -> None:
        for pid in _stray_processes(self.proc.pid, self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def peak_memory_mb(self) -> float:
        """The largest peak resident memory (Linux ``VmHWM``) of the worker and its descendants
        (inside bubblewrap the worker is a grandchild), read just before it is stopped."""
        peak, todo, seen = 0.0, [self.proc.pid], set()
        while todo and len(seen) < 64:
            pid = todo.pop()
            seen.add(pid)
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                todo += [int(c) for c in children if int(c) not in seen]
            except (OSError, ValueError, IndexError):
                pass
        return peak

    def close(self) -> str:
        self.peak_mb = self.peak_memory_mb()
        _kill_group(self.proc)
        with _LIVE_LOCK:
            _LIVE.discard(self.proc)
        for stream in (self.proc.stdin,):
            try:
                stream.close()
            except OSError:
                pass
        os.close(self.read_fd)
        self.log.seek(0, os.SEEK_END)
        size = self.log.tell()
        self.log.seek(max(0, size - 4000))
        tail = self.log.read().decode("utf-8", "replace")
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)
        return tail


def run_program(program: Program, limits: Limits = Limits()) -> RunResult:
    """Run phase 1 and every test of ``program``; never raises for anything the code under test
    does."""
    result = RunResult()
    isolated, result.isolation = isolation.resolve(limits.isolation)
    start = time.monotonic()
    total_deadline = start + limits.total_timeout
    skips: dict[int, str] = {}
    pending = list(range(len(program.tests)))
    attempt_number = 0
    while pending and attempt_number <= limits.max_restarts:
        if _STOP.is_set():
            result.grader_error = "grading was interrupted"
            break
        attempt_number += 1
        attempt = _Attempt(program, limits, skips, isolated)
        try:
            stopped = _run_attempt(attempt, program, limits, result, skips, pending, total_deadline)
        finally:
            result.log_tail = attempt.close()
            result.peak_memory_mb = max(result.peak_memory_mb, attempt.peak_mb)
        if stopped:
            break
    result.restarts = attempt_number - 1
    for index in pending:
        reason = result.grader_error or (
            "the time limit for the whole submission was reached"
            if time.monotonic() >= total_deadline
            else "not run: too many restarts"
        )
        result.tests.setdefault(program.tests[index].grade_id, {}).setdefault(
            "visible", Outcome("failed", "GraderError", reason)
        )
    result.seconds = time.monotonic() - start
    return result


def _run_attempt(
    attempt: _Attempt,
    program: Program,
    limits: Limits,
    result: RunResult,
    skips: dict[int, str],
    pending: list[int],
    total_deadline: float,
) -> bool:
    """One worker's life. Returns True when no further attempt can help."""
    channel = attempt.channel
    current: int | None = None
    cell_deadline = total_deadline
    started_student = False
    next_step = 0

    def advance() -> None:
        """Send the next phase-1 step; its clock starts now, on the grader's side. The worker's
        own messages never move or reset a deadline (student code can write them too)."""
        nonlocal current, cell_deadline, next_step, started_student
        if next_step < len(program.steps):
            current = next_step
            next_step += 1
            started_student = started_student or program.steps[current].kind == "student"
            cell_deadline = time.monotonic() + limits.cell_timeout + GRACE_SECONDS
            attempt.send_raw(_hex_line("step", current))
        else:
            current, cell_deadline = None, total_deadline

    advance()

    def fail_current(reason: str) -> bool:
        if current is None:
            if not started_student:
                result.grader_error = f"the grader process failed before running any cell: {reason}"
                return True
            result.notes.append(f"the grader process died between two cells ({reason})")
            return False
        step = program.steps[current]
        status = "timeout" if "time" in reason else "crashed"
        result.steps[current] = Outcome(
            status, "TimeoutError" if status == "timeout" else "Crash", reason
        )
        skips[current] = reason
        if step.kind == "instructor" and not started_student:
            result.grader_error = (
                f"the instructor's {step.label} failed in the grader: {reason} "
                "(raise --timeout / --memory-mb?)"
            )
            return True
        return False

    # phase 1
    while True:
        try:
            message = channel.next(min(cell_deadline, total_deadline))
        except EOFError:
            return fail_current(_death_reason(attempt.proc, limits))
        if message is None:
            if time.monotonic() >= total_deadline:
                fail_current("the time limit for the whole submission was reached")
                return True
            return fail_current(f"time limit: the cell ran longer than {limits.cell_timeout:g} s")
        kind = message[0]
        if kind == "ready" and len(message) > 1:
            result.memory_limited = message[1] == "yes"
        elif kind == "end" and len(message) >= 6 and message[1] == str(current):
            number = int(message[1])
            if number not in skips:
                outcome = Outcome(
                    message[2],
                    message[3],
                    message[4],
                    int(message[5]) if message[5].isdigit() else 0,
                )
                outcome.status = printable(outcome.status, 20)
                outcome.error_type = printable(outcome.error_type, 80)
                outcome.message = printable(outcome.message, 300)
                result.steps[number] = outcome
                step = program.steps[number]
                if step.kind == "instructor" and outcome.status in ("failed", "timeout"):
                    problem = (
                        f"the instructor's {step.label} failed: "
                        f"{outcome.error_type}: {outcome.message}"
                    )
                    if (
                        not started_student
                    ):  # nothing of the student's has run: the grader's problem
                        result.grader_error = (
                            f"{problem} (if the notebook runs outside the grader, "
                            "raise --memory-mb or --timeout)"
                        )
                        return True
                    result.notes.append(problem + " (after your code ran)")
            advance()
        elif kind == "note" and len(message) >= 3 and len(result.notes) < MAX_NOTES:
            note = (
                f"your code {printable(message[2], NOTE_CHARS)}; the originals were restored "
                "before the tests"
            )
            if note not in result.notes:
                result.notes.append(note)
        elif kind == "phase1" and current is None:
            break
    # phase 2
    while pending:
        index = pending[0]
        test = program.tests[index]
        nonce = secrets.token_hex(16)
        attempt.kill_strays()
        sent = attempt.send_raw(
            _hex_line(
                "test",
                nonce,
                index,
                test.grade_id,
                test.visible,
                test.hidden,
                ",".join(test.assigns),
            )
        )
        outcomes = result.tests.setdefault(test.grade_id, {})
        for part in ("visible", "hidden"):
            deadline = min(time.monotonic() + limits.cell_timeout + GRACE_SECONDS, total_deadline)
            while True:
                try:
                    message = channel.next(deadline) if sent else None
                except EOFError:
                    message = None
                    reason = _death_reason(attempt.proc, limits)
                else:
                    reason = (
                        "the time limit for the whole submission was reached"
                        if time.monotonic() >= total_deadline
                        else f"time limit: ran longer than {limits.cell_timeout:g} s"
                    )
                if message is None:
                    outcomes[part] = Outcome(
                        "timeout" if "time" in reason else "crashed",
                        "TimeoutError" if "time" in reason else "Crash",
                        reason,
                    )
                    if part == "visible":
                        outcomes["hidden"] = Outcome("skipped")
                    pending.pop(0)
                    return time.monotonic() >= total_deadline
                if (
                    message[0] == "result"
                    and len(message) >= 8
                    and message[1] == nonce
                    and message[2] == str(index)
                    and message[3] == part
                ):
                    outcomes[part] = Outcome(
                        printable(message[4], 20),
                        printable(message[5], 80),
                        printable(message[6], 300),
                        int(message[7]) if message[7].isdigit() and len(message[7]) < 7 else 0,
                        message[8] if part == "hidden" and len(message) > 8 else "",
                    )
                    break
        pending.pop(0)
    return True  # the worker is stopped by _Attempt.close(), after its peak memory is read
