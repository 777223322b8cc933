"""The bottom layer: network probe, offline flag, Keras' cache, hashes, checked and atomic files.

Everything here is light (standard library only) and imports nothing else from ``course_utils``,
so the data loaders (:mod:`course_utils.data`, :mod:`course_utils.sequences`), the prefetch
command (:mod:`course_utils.download`), the notebook tool and the grader all build on it without
importing each other.

Files in ``data/`` are listed in ``data/SHA256SUMS`` (and described in ``data/README.md``);
:func:`data_file` verifies the checksum before anything reads them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

OFFLINE_ENV = "COURSE_OFFLINE"
DATA_DIR_ENV = "COURSE_DATA_DIR"
#: Seconds a network probe or a stalled download may take before we give up.
NETWORK_TIMEOUT = 5.0
#: Where keras.datasets downloads from; used to probe the network.
KERAS_DATA_HOST = ("storage.googleapis.com", 443)


class DataError(RuntimeError):
    """A dataset file is missing, corrupt or unknown; the message says how to fix it."""


# --------------------------------------------------------------------------- network


def offline_forced() -> bool:
    """True when ``COURSE_OFFLINE`` asks for the offline sources (1/true/yes)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def network_available(
    host: tuple[str, int] = KERAS_DATA_HOST, timeout: float = NETWORK_TIMEOUT
) -> bool:
    """Can we open a TCP connection to ``host`` within ``timeout`` seconds?

    Name resolution has no timeout of its own in Python, so the probe runs in a daemon
    thread that we stop waiting for after ``timeout`` seconds.
    """
    outcome: dict[str, bool] = {}

    def probe() -> None:
        try:
            with socket.create_connection(host, timeout=timeout):
                outcome["ok"] = True
        except OSError:
            outcome["ok"] = False

    thread = threading.Thread(target=probe, daemon=True, name="course-network-probe")
    thread.start()
    thread.join(timeout)
    return outcome.get("ok", False)


@contextlib.contextmanager
def socket_timeout(seconds: float) -> Iterator[None]:
    """Temporarily give every new socket a timeout.

    Keras downloads with ``urllib.request.urlretrieve``, which sets no timeout: on a network
    that silently drops packets it would wait forever. With a default timeout a stalled
    connection raises after ``seconds`` instead.
    """
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


# --------------------------------------------------------------------------- Keras' cache


def keras_home() -> Path:
    """The Keras cache folder, found the way Keras finds it: ``$KERAS_HOME``, else ``~/.keras``
    (``/tmp/.keras`` when the home folder is not writable)."""
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"])
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):
        base = "/tmp"
    return Path(base) / ".keras"


def keras_cache_path(filename: str) -> Path:
    """Where ``keras.datasets`` keeps a downloaded file (under :func:`keras_home`)."""
    return keras_home() / "datasets" / filename


# --------------------------------------------------------------------------- hashes and files


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file (``hashlib`` algorithm name), read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_hex(data: bytes | str) -> str:
    """SHA-256 hex digest of bytes already in memory (``str`` is hashed as UTF-8)."""
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` so that ``path`` holds either its old content or all of the new one.

    Writes a temporary file next to ``path`` (unique per process and thread), flushes it to
    disk and moves it into place with ``os.replace``; missing parent folders are created.
    ``str`` is written as UTF-8 with its line endings unchanged.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def verify_file(path: Path, expected_sha256: str, label: str, fix: str) -> Path:
    """Check that ``path`` exists and has the expected SHA-256; errors name ``label``, ``fix``."""
    if not path.is_file():
        raise DataError(f"{label} is missing ({path}). {fix}")
    actual = file_digest(path)
    if actual != expected_sha256:
        raise DataError(
            f"{label} is corrupt or truncated ({path.stat().st_size:,} bytes, "
            f"SHA-256 {actual[:12]}..., expected {expected_sha256[:12]}...). {fix}"
        )
    return path


# --------------------------------------------------------------------------- data/ files


def data_dir() -> Path:
    """The repository's ``data/`` folder (or ``$COURSE_DATA_DIR``)."""
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override) if override else Path(__file__).resolve().parent.parent / "data"


def _manifest(directory: Path) -> dict[str, str]:
    manifest = directory / "SHA256SUMS"
    if not manifest.exists():
        raise DataError(
            f"{manifest} is missing: restore it with `git checkout -- data/SHA256SUMS`."
        )
    entries: dict[str, str] = {}
    for number, line in enumerate(manifest.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{manifest}:{number} is not '<sha256>  <file name>': {line!r}")
        entries[parts[1].lstrip("*")] = parts[0].lower()
    return entries


def data_file(name: str) -> Path:
    """Path of ``data/<name>`` after checking it against ``data/SHA256SUMS``.

    Raises:
        DataError: the file is not listed, missing, or its checksum differs (corrupt or
            truncated); the message names the file and how to restore it.
    """
    directory = data_dir()
    expected = _manifest(directory).get(name)
    if expected is None:
        raise DataError(
            f"data/{name} is not listed in data/SHA256SUMS. Every shipped file needs its "
            f"checksum there and its provenance and license in data/README.md."
        )
    fix = (
        f"Restore it with `git checkout -- data/{name}` (data/README.md says where it comes from)."
    )
    return verify_file(directory / name, expected, f"data/{name}", fix)
