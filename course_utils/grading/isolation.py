"""OS isolation for grading workers: Linux namespaces through bubblewrap (``bwrap``).

The worker that runs a student's code is started inside a sandbox that

* has its own PID namespace: it cannot see, signal or outlive the grader (when the sandbox's
  first process ends, the kernel kills everything left in it, ``setsid`` daemons included);
* has no network (a new network namespace with only a loopback device);
* sees a minimal file system: the operating system's ``/usr`` and a few ``/etc`` files, the
  Python installation, the ``course_utils`` package, ``data/`` and the student versions in
  ``release/`` read-only, and a scratch
  folder (its home and working directory) read-write. The instructor's notebook, the submissions,
  the output folder with its cache and key, the TA's home and the rest of the repository are not
  there;
* starts from an empty environment (only the variables the grader sets);
* runs as an unprivileged user without capabilities (when the grader runs as root, as
  ``nobody`` with every capability dropped).

bubblewrap is Debian's ``bubblewrap`` package (``apt-get install bubblewrap``) and needs
unprivileged user namespaces, or a setuid ``bwrap``. Where it is missing or does not work (macOS,
a kernel without user namespaces, a container that forbids them), grading still runs, without
isolation: every result then says so (``isolation`` in the results, a gradebook column) and the
command warns loudly. ``--isolation required`` refuses to grade instead.
"""

from __future__ import annotations

import functools
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

#: The environment variable that sets the default mode (``auto``, ``required`` or ``off``).
MODE_ENV = "COURSE_GRADING_ISOLATION"
MODES = ("auto", "required", "off")
_ETC = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "fonts", "passwd",
    "group", "nsswitch.conf", "mime.types", "ssl",
)  # fmt: skip


class IsolationUnavailable(RuntimeError):
    """``required`` isolation cannot be had on this machine; the message says how to get it."""


def default_mode() -> str:
    mode = os.environ.get(MODE_ENV, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"{MODE_ENV}={mode!r}: use one of {', '.join(MODES)}")
    return mode


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in _ETC:
        path = Path("/etc") / name
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    return args


def readable_paths(package_root: str) -> list[str]:
    """What the worker must read: Python, its site-packages, course_utils and the data folder."""
    from ..cache import data_dir

    paths = {
        sys.prefix,
        sys.base_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        *site.getsitepackages(),
        os.path.join(package_root, "course_utils"),
        # the student versions (public): what course_utils falls back to without notebooks/
        # (e.g. notebook 00 reads the glossary's terms from them)
        os.path.join(package_root, "release"),
        str(data_dir()),
    }
    out = []
    for path in sorted(paths):
        if path and os.path.isdir(path) and not path.startswith("/usr/"):
            out.append(os.path.realpath(path) if os.path.islink(path) else path)
    # drop paths inside other listed paths (binding them again is harmless but noisy)
    return [p for p in out if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in out)]


def bwrap_command(scratch: str, env: dict[str, str], package_root: str) -> list[str]:
    """The bubblewrap prefix that runs a command inside the sandbox described above."""
    args = [
        shutil.which("bwrap") or "bwrap",
        "--unshare-all",
        "--unshare-user",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        *_system_binds(),
        "--proc", "/proc",
        "--dev", "/dev",
        "--tmpfs", "/tmp",
    ]  # fmt: skip
    for path in readable_paths(package_root):
        args += ["--ro-bind", path, path]
    args += ["--bind", scratch, scratch, "--chdir", scratch]
    if os.geteuid() == 0:  # never root inside, even in the user namespace
        args += ["--uid", "65534", "--gid", "65534", "--cap-drop", "ALL"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return [*args, "--"]


@functools.lru_cache(maxsize=1)
def probe_bwrap() -> tuple[bool, str]:
    """(works, reason): whether bubblewrap can start a sandboxed Python here (checked once)."""
    if not sys.platform.startswith("linux"):
        return False, f"no Linux namespaces on {sys.platform}"
    if shutil.which("bwrap") is None:
        return False, "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    scratch = os.path.realpath(__import__("tempfile").mkdtemp(prefix="grading-probe-"))
    try:
        command = bwrap_command(scratch, {"PATH": "/usr/bin:/bin"}, _package_root())
        done = subprocess.run(
            [*command, sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bubblewrap failed to start: {exc}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if done.returncode != 0 or not done.stdout.strip().isdigit():
        first = (done.stderr.strip().splitlines() or ["no message"])[-1][:200]
        return False, f"bubblewrap cannot create namespaces here ({first})"
    return True, "bubblewrap: own PID, network, mount and user namespaces; minimal file view"


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def resolve(mode: str | None = None) -> tuple[bool, str]:
    """(isolated, description) for ``mode``; raises :class:`IsolationUnavailable` for
    ``required`` when bubblewrap does not work."""
    mode = mode or default_mode()
    if mode not in MODES:
        raise ValueError(f"isolation mode {mode!r}: use one of {', '.join(MODES)}")
    if mode == "off":
        return False, "none: turned off (--isolation off)"
    works, reason = probe_bwrap()
    if works:
        return True, reason
    if mode == "required":
        raise IsolationUnavailable(
            f"isolation is required but unavailable: {reason}. Install bubblewrap and make sure "
            "unprivileged user namespaces are allowed (sysctl kernel.unprivileged_userns_clone=1 "
            "or user.max_user_namespaces > 0), or grade with --isolation auto to accept "
            "unisolated grading"
        )
    return False, f"none: {reason}"
