"""The grading worker: runs ONE submission's cells in this fresh process (not for direct use).

Started by :mod:`course_utils.grading.sandbox` as ``python -I _worker.py RESULT_FD MEMORY_MB
CPU_SECONDS OUTPUT_MB``. It is a standalone script (standard library only; of course_utils it
imports only the small :mod:`course_utils.grading.probes`, for the hidden parts), so nothing of
the grading parent lives in this process.

Protocol (every field hex-encoded UTF-8, fields separated by spaces, one message per line):

* parent -> worker, on a private copy of fd 0 (fd 0 itself becomes /dev/null): first one JSON
  line, the job (phase-1 cells, the names the tests may use, modules to protect); then ``step N``
  before each phase-1 cell (the parent's clock for that cell starts then); later one ``test``
  message per test cell, carrying a fresh random nonce, then ``exit``.
* worker -> parent, on RESULT_FD: ``ready``, ``begin``/``end`` per phase-1 cell, ``note``,
  ``phase1``, then ``result NONCE ...`` per test part; a hidden part's result carries its
  ``probe()`` records as JSON. Student code runs in this process and can write any of these
  messages, so the parent trusts none of them for a verdict: the probes are compared with the
  reference run's in the grading process (:mod:`course_utils.grading.gradebook`).

Phase 1 runs the instructor's setup and teaching cells and the student's answer cells in one
namespace. Phase 2 runs each test part (visible, then hidden) in a *separate* namespace with a
private copy of pristine builtins, after restoring everything the tests rely on to the state
captured before the student's first cell: builtins, the attributes (functions, classes,
submodules) of protected modules, the methods of their classes, function code and defaults,
``sys.modules`` entries, trace/profile hooks, stdout. Anything a test part changed in that
state is restored again and the part fails ("your code changed numpy.allclose while the tests
ran"). Details and limits: docs/GRADING.md.
"""

import sys


def main() -> None:  # one closure, so no harness state sits in module globals
    import builtins
    import gc
    import json
    import os
    import resource
    import signal
    import threading
    import types

    # ---- trusted references, captured before any notebook code runs -----------------------
    read, write, dup, dup2, close, exit_now = os.read, os.write, os.dup, os.dup2, os.close, os._exit
    compile_, exec_, type_, str_, len_, isinstance_, callable_ = (
        compile,
        exec,
        type,
        str,
        len,
        isinstance,
        callable,
    )
    getattr_, id_, list_, dict_, set_, sorted_ = getattr, id, list, dict, set, sorted
    ModuleType, FunctionType = types.ModuleType, types.FunctionType
    descriptor_types = (property, classmethod, staticmethod)
    current_frames = sys._current_frames
    collect = gc.collect
    settrace, setprofile = sys.settrace, sys.setprofile
    thread_settrace, thread_setprofile = threading.settrace, threading.setprofile
    set_signal, set_timer, ITIMER_REAL = signal.signal, signal.setitimer, signal.ITIMER_REAL
    type_setattr, type_delattr = type.__setattr__, type.__delattr__
    sys_modules = sys.modules
    MISSING = object()
    HEAPTYPE = 1 << 9

    result_fd = int(sys.argv[1])
    memory_mb, cpu_seconds, output_mb = (int(a) for a in sys.argv[2:5])

    # ---- limits (the worker lowers its own limits: no preexec_fn, safe with parent threads) --
    # Memory: on Linux RLIMIT_DATA, which counts the heap and private writable mappings (what a
    # memory bomb allocates) but not address space that is only reserved (TensorFlow and XLA
    # reserve gigabytes they never touch) nor read-only code; RLIMIT_AS counted those, so the same
    # notebook passed on one machine and failed on the next. Elsewhere RLIMIT_AS is the fallback.
    memory_limited = "yes"
    if memory_mb > 0:
        limit = memory_mb * 2**20
        kinds = (
            ("RLIMIT_DATA", "RLIMIT_AS")
            if sys.platform.startswith("linux")
            else ("RLIMIT_AS", "RLIMIT_DATA")
        )
        for kind in kinds:
            try:
                resource.setrlimit(getattr(resource, kind), (limit, limit))
                break
            except (ValueError, OSError, AttributeError):  # macOS refuses RLIMIT_AS
                continue
        else:
            memory_limited = "no"
    for name, value in (
        ("RLIMIT_CPU", cpu_seconds),
        ("RLIMIT_FSIZE", output_mb * 2**20),
        ("RLIMIT_CORE", 0),
    ):
        try:
            if name == "RLIMIT_CPU":
                resource.setrlimit(resource.RLIMIT_CPU, (value, value + 5))
            else:
                resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError, AttributeError):
            pass
    try:  # Linux: die with the parent
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    set_signal(signal.SIGXFSZ, signal.SIG_IGN)  # too much output: writes fail instead of killing us

    in_fd = dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    dup2(null, 0)
    close(null)
    original_stdout, original_stderr = sys.stdout, sys.stderr
    original_displayhook, original_excepthook = sys.displayhook, sys.excepthook

    # ---- messages ---------------------------------------------------------------------------
    def send(*fields: object) -> None:
        parts = [str_(f).encode("utf-8", "replace").hex() for f in fields]
        data = (" ".join(parts) + "\n").encode("ascii")
        while data:
            data = data[write(result_fd, data) :]

    pending = [b""]

    def receive_line() -> bytes:
        while b"\n" not in pending[0]:
            chunk = read(in_fd, 1 << 16)
            if not chunk:
                exit_now(0)  # the parent went away or is done with us
            pending[0] += chunk
        line, _, rest = pending[0].partition(b"\n")
        pending[0] = rest
        return line

    def receive_fields() -> list:
        return [
            bytes.fromhex(part.decode("ascii")).decode("utf-8")
            for part in receive_line().split(b" ")
        ]

    def clip(text: str, limit: int = 300) -> str:
        return text if len_(text) <= limit else text[: limit - 3] + "..."

    job = json.loads(receive_line())
    cell_timeout = float(job["cell_timeout"])
    send("ready", memory_limited)

    # ---- the notebook namespace and IPython stand-ins ----------------------------------------
    main_module = ModuleType("__main__")
    ns = main_module.__dict__
    ns["__builtins__"] = builtins
    sys_modules["__main__"] = main_module

    class GraderShell:
        """What ``get_ipython()`` returns here: magics are not run, input transformers never
        apply."""

        def __init__(self) -> None:
            self.input_transformers_post: list = []
            self.input_transformers_cleanup: list = []
            self.user_ns = ns

        def run_line_magic(self, name: str, line: str, *args: object) -> None:
            if name in ("matplotlib", "config", "load_ext", "reload_ext", "autoreload"):
                return None
            raise RuntimeError(f"IPython magic %{name} is not available when grading")

        def run_cell_magic(self, name: str, line: str, cell: str) -> None:
            raise RuntimeError(f"IPython cell magic %%{name} is not available when grading")

        def system(self, command: str) -> None:
            raise RuntimeError("shell commands (!...) are not run when grading")

        getoutput = system

    shell = GraderShell()

    def display(*objects: object, **kwargs: object) -> None:
        for obj in objects:
            print(repr(obj))

    trusted: dict = {"get_ipython": lambda: shell, "display": display}
    ns.update(trusted)
    builtins_snapshot = dict_(builtins.__dict__)

    # ---- snapshot of what the tests rely on ---------------------------------------------------
    prefixes = tuple(job["protect"])
    module_snap: dict = {}  # name -> (module, {attribute: value})
    class_snap: dict = {}  # id -> (class, {attribute: function or descriptor})
    func_snap: dict = {}  # id -> (function, code, defaults, kwdefaults)

    def protected(name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    def snap_function(f: object) -> None:
        if type_(f) is FunctionType and id_(f) not in func_snap:
            func_snap[id_(f)] = (f, f.__code__, f.__defaults__, f.__kwdefaults__)

    def snap_class(cls: type, module_name: str) -> None:
        if (
            id_(cls) in class_snap
            or not (cls.__flags__ & HEAPTYPE)
            or cls.__dict__.get("__module__") != module_name
        ):
            return
        kept = {}
        for key, value in list_(cls.__dict__.items()):
            if callable_(value) or isinstance_(value, descriptor_types):
                kept[key] = value
                inner = value.__func__ if isinstance_(value, (classmethod, staticmethod)) else value
                snap_function(inner)
                if isinstance_(value, property):
                    for accessor in (value.fget, value.fset, value.fdel):
                        snap_function(accessor)
        class_snap[id_(cls)] = (cls, kept)

    def snap_new_modules() -> None:
        for name, module in list_(sys_modules.items()):
            if name in module_snap or type_(module) is not ModuleType or not protected(name):
                continue
            attributes = {}
            for key, value in list_(module.__dict__.items()):
                try:
                    if isinstance_(value, ModuleType):
                        if sys_modules.get(getattr_(value, "__name__", "")) is value:
                            attributes[key] = value
                    elif callable_(value):
                        attributes[key] = value
                        snap_function(value)
                        if isinstance_(value, type):
                            snap_class(value, name)
                except Exception:
                    continue
            module_snap[name] = (module, attributes)

    def sync(
        label: str,
        kept: dict,
        current: object,
        put: object,
        drop: object,
        added: object,
        accept: bool,
        changes: list,
    ) -> None:
        """Compare ``current`` (a mapping) with ``kept`` by identity: put back (or accept) what
        differs.

        ``added(key, value)`` says whether a key missing from ``kept`` counts (then ``drop``
        removes it); ``None`` ignores added keys.
        """
        if added is not None:
            for key in [k for k in current if k not in kept]:
                value = current[key]
                if added(key, value):
                    changes.append(f"{label}.{key}")
                    if accept:
                        kept[key] = value
                    else:
                        drop(key)
                elif kept is builtins_snapshot and key.startswith("__"):
                    kept[key] = value  # library internals (pybind11 keeps a capsule in builtins)
        for key, value in list_(kept.items()):
            if current.get(key, MISSING) is not value:
                changes.append(f"{label}.{key}")
                if accept:
                    kept[key] = current.get(key)
                else:
                    put(key, value)

    def restore(accept: bool = False) -> list:
        """Put the snapshot back; return what had changed. ``accept``: take the changes instead."""
        changes: list = []
        live = builtins.__dict__
        sync(
            "builtins",
            builtins_snapshot,
            live,
            live.__setitem__,
            live.__delitem__,
            lambda k, v: not k.startswith("__"),
            accept,
            changes,
        )
        for name, (module, attributes) in list_(module_snap.items()):
            if sys_modules.get(name) is not module:
                changes.append(f"sys.modules[{name!r}]")
                if not accept:
                    sys_modules[name] = module
            if type_(module) is not ModuleType:
                changes.append(f"the type of module {name}")
                if not accept:
                    module.__class__ = ModuleType
            sync(
                name,
                attributes,
                module.__dict__,
                module.__dict__.__setitem__,
                None,
                None,
                accept,
                changes,
            )
        for cls, kept in list_(class_snap.values()):
            sync(
                name_of(cls),
                kept,
                cls.__dict__,
                lambda k, v, cls=cls: type_setattr(cls, k, v),
                lambda k, cls=cls: type_delattr(cls, k),
                lambda k, v: callable_(v) or isinstance_(v, descriptor_types),
                accept,
                changes,
            )
        for key, (f, code, defaults, kwdefaults) in list_(func_snap.items()):
            if (
                f.__code__ is not code
                or f.__defaults__ is not defaults
                or f.__kwdefaults__ is not kwdefaults
            ):
                changes.append(
                    f"the code of {getattr_(f, '__module__', '?')}."
                    f"{getattr_(f, '__qualname__', '?')}"
                )
                if accept:
                    func_snap[key] = (f, f.__code__, f.__defaults__, f.__kwdefaults__)
                else:
                    f.__code__, f.__defaults__, f.__kwdefaults__ = code, defaults, kwdefaults
        settrace(None)
        setprofile(None)
        thread_settrace(None)
        thread_setprofile(None)
        sys.stdout, sys.stderr = original_stdout, original_stderr
        sys.displayhook, sys.excepthook = original_displayhook, original_excepthook
        sys_modules["__main__"] = main_module
        set_signal(signal.SIGALRM, on_alarm)
        set_signal(signal.SIGXFSZ, signal.SIG_IGN)
        for key, value in trusted.items():
            if ns.get(key, MISSING) is not value:
                ns[key] = value
        ns["__builtins__"] = builtins
        return changes

    def name_of(cls: type) -> str:
        module = cls.__dict__.get("__module__", "?")
        return f"{module}.{cls.__dict__.get('__qualname__', cls.__name__)}"

    # ---- running code -----------------------------------------------------------------------
    class CellTimeout(BaseException):
        pass

    armed = [False]

    def on_alarm(signum: int, frame: object) -> None:
        if armed[0]:
            raise CellTimeout()

    set_signal(signal.SIGALRM, on_alarm)

    def run(source: str, filename: str, namespace: dict) -> tuple:
        """Execute; return (status, error type, message, line number in ``filename``)."""
        try:
            code = compile_(source, filename, "exec", dont_inherit=True)
        except SyntaxError as exc:
            return ("failed", "SyntaxError", clip(str_(exc.msg)), exc.lineno or 0)
        except BaseException as exc:  # noqa: B036 - e.g. MemoryError while compiling
            return describe(exc, filename)
        outcome: tuple = ("passed", "", "", 0)
        try:
            armed[0] = True
            set_timer(ITIMER_REAL, cell_timeout)
            exec_(code, namespace)
            armed[0] = False
        except BaseException as exc:  # noqa: B036 - everything the cell raises is its failure
            armed[0] = False
            outcome = describe(exc, filename)
        finally:
            armed[0] = False
            set_timer(ITIMER_REAL, 0)
        return outcome

    def describe(exc: BaseException, filename: str) -> tuple:
        if isinstance_(exc, CellTimeout):
            return ("timeout", "TimeoutError", f"time limit: ran longer than {cell_timeout:g} s", 0)
        line = 0
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                line = tb.tb_lineno
            tb = tb.tb_next
        try:
            name = type_(exc).__name__
            name = name if isinstance_(name, str) else "Exception"
        except BaseException:  # noqa: B036
            name = "Exception"
        try:
            message = str_(exc)
            message = message if type_(message) is str else ""
        except BaseException:  # noqa: B036
            message = "<the error message could not be printed>"
        return ("failed", clip(name, 80), clip(message), line)

    def threads() -> set:
        return set_(current_frames())

    # ---- phase 1: setup cells, the student's cells, teaching cells ----------------------------
    allowed_threads = threads()
    alien_threads: set = set()
    snapshotted = False

    def take_snapshot() -> None:
        for module_name in job["preimport"]:
            try:
                __import__(module_name)
            except BaseException:  # noqa: B036 - a missing optional module is not our problem
                pass
        snap_new_modules()

    for number, step in enumerate(job["steps"]):
        fields = receive_fields()  # the grader paces phase 1: "step N", and N's clock starts
        if fields[:2] != ["step", str_(number)]:
            exit_now(0)
        send("begin", number)
        if step["kind"] == "student" and not snapshotted:
            take_snapshot()
            snapshotted = True
        if step["kind"] == "instructor" and snapshotted:
            changed = restore()
            if changed:
                send("note", number, "modified " + ", ".join(sorted_(set_(changed))[:5]))
        before, names_before = threads(), dict_(ns)
        if step.get("skip"):
            outcome = ("skipped", "", step["skip"], 0)
        else:
            outcome = run(step["source"], f"<{step['label']}>", ns)
        if step["kind"] == "student" and (outcome[0] == "timeout" or outcome[1] == "MemoryError"):
            for key in [k for k in ns if names_before.get(k, MISSING) is not ns[k]]:
                del ns[
                    key
                ]  # a cell stopped by a limit is undone, like a cell skipped after a restart
            ns.update(names_before)
            collect()
        born = threads() - before
        if step["kind"] == "instructor":
            allowed_threads |= born
            for key in step["assigns"]:
                if key in ns:
                    trusted[key] = ns[key]
            if snapshotted:
                restore(accept=True)
                snap_new_modules()
        else:
            alien_threads |= born
        send("end", number, *outcome)
    if not snapshotted:
        take_snapshot()
    changed = restore()
    if changed:
        send("note", -1, "modified " + ", ".join(sorted_(set_(changed))[:5]))
    send("phase1")

    # ---- phase 2: the instructor's tests, one message at a time ------------------------------
    def run_probes(source: str, filename: str, namespace: dict) -> tuple:
        """Run a hidden part, collecting its probe() records (course_utils.grading.probes);
        the grader compares them with the reference run's, outside this process."""
        try:
            probes = __import__("course_utils.grading.probes", fromlist=["recording"])
        except BaseException as exc:  # noqa: B036
            return ("failed", "ImportError", clip(f"probes unavailable: {exc!r}"), 0), "[]"
        with probes.recording() as sink:
            namespace["probe"] = probes.probe
            outcome = run(source, filename, namespace)
        try:
            text = json.dumps(sink)
        except BaseException:  # noqa: B036
            text = "[]"
        if len_(text) > probes.MAX_TEST_BYTES:
            return ("failed", "ProbeError", "too much probe data", 0), "[]"
        return outcome, text

    payload = "[]"
    api = {key: ns[key] for key in job["api_names"] if key in ns}
    test_state: dict = {}
    while True:
        fields = receive_fields()
        if not fields or fields[0] != "test":
            exit_now(0)
        nonce, index, grade_id, visible, hidden, assigns = fields[1:7]
        restore()
        namespace = {"__name__": "__main__", "__builtins__": dict_(builtins_snapshot)}
        namespace.update(api)
        namespace.update(trusted)
        namespace.update(test_state)
        prelude = (
            run(job["test_prelude"], "<imports>", namespace) if job["test_prelude"] else ("passed",)
        )
        failed_before = False
        for part, source in (("visible", visible), ("hidden", hidden)):
            if part == "hidden" and not source.strip():
                send("result", nonce, index, part, "none", "", "", 0)
                continue
            if failed_before and not job.get("keep_going"):
                send("result", nonce, index, part, "skipped", "", "", 0)
                continue
            restore()
            alive = alien_threads & threads()
            if prelude[0] != "passed":
                outcome = (
                    "failed",
                    "ImportError",
                    "the notebook's imports failed: " + prelude[2],
                    0,
                )
            elif alive:
                outcome = (
                    "failed",
                    "RuntimeError",
                    "background threads started by your code were still running",
                    0,
                )
            elif part == "hidden":
                before = threads()
                outcome, payload = run_probes(source, f"<{grade_id} {part}>", namespace)
                alien_threads |= threads() - before - allowed_threads
            else:
                before = threads()
                outcome = run(source, f"<{grade_id} {part}>", namespace)
                alien_threads |= threads() - before - allowed_threads
            changed = restore()
            if changed and outcome[0] == "passed":
                outcome = (
                    "failed",
                    "RuntimeError",
                    "your code changed "
                    + ", ".join(sorted_(set_(changed))[:3])
                    + " while the tests ran",
                    0,
                )
            for key in assigns.split(","):
                if key and key in namespace:
                    test_state[key] = namespace[key]
            failed_before = outcome[0] != "passed"
            send("result", nonce, index, part, *outcome, payload if part == "hidden" else "")
            payload = "[]"


if __name__ == "__main__":
    main()
