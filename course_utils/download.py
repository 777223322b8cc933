"""Prefetch the course's datasets and pretrained weights into Keras' cache.

    python -m course_utils.download                  # fetch everything the course uses
    python -m course_utils.download --list           # what, from where, to where, cached or not
    python -m course_utils.download --only mnist cifar10
    python -m course_utils.download --only imdb imdb_word_index   # notebook 15's online part

For classrooms whose lab machines have no internet: run it once on a machine that has, then copy
the Keras cache folder it names (``~/.keras``, or ``$KERAS_HOME``) to the same place on every lab
machine. Each file is fetched with Keras' own ``keras.utils.get_file``, with the same file name,
origin and cache folder as Keras' loaders use, so ``keras.datasets.mnist.load_data()``,
``keras.applications.MobileNetV2(weights="imagenet")`` and ``decode_predictions`` then find it
there and never touch the network.

Verification. Where Keras' own source publishes a hash (``keras.datasets.mnist``,
``keras.datasets.cifar10``, ``keras.datasets.imdb``,
``keras.applications.imagenet_utils.decode_predictions``), the file is checked against that hash,
the same check Keras makes. Keras publishes no hash for MobileNetV2's weight files, so those are
checked by content instead: an HDF5 file in Keras' weight layout whose layers and number of stored
values are exactly MobileNetV2's (a truncated, corrupt or wrong file fails). Every report line
shows the file's SHA-256, so copies on several machines can be compared.

Notebook 10 asks :func:`imagenet_weights_status` once, near its top, whether it can take the
ImageNet path (weights in the cache, or a network that answers) or must take the offline path.
``COURSE_IMAGENET_WEIGHTS=none`` (for the course's own tests only) makes it take the ImageNet path
with ``weights=None``: random weights, every code path except the download.

Exit status of the command: 0 when every requested item is in the cache and verified, 1 when
any item could not be fetched or verified (no network, a failed download, a corrupt file),
2 for a command-line mistake.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .cache import (
    NETWORK_TIMEOUT,
    OFFLINE_ENV,
    file_digest,
    keras_home,
    network_available,
    offline_forced,
    socket_timeout,
)

#: ``COURSE_IMAGENET_WEIGHTS=none``: the ImageNet path with random weights (tests only).
IMAGENET_WEIGHTS_ENV = "COURSE_IMAGENET_WEIGHTS"

#: Where Keras' application weights and its ImageNet class index live (keras.applications).
KERAS_APPLICATIONS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"
MOBILENET_V2_BASE = KERAS_APPLICATIONS_BASE + "mobilenet_v2/"

#: Values MobileNetV2 stores, all layers (``count_params()`` of ``MobileNetV2(weights=None)``;
#: tests/test_download.py checks them against Keras).
MOBILENET_V2_VALUES = {False: 2_257_984, True: 3_538_984}
#: Image sizes for which Keras publishes MobileNetV2 weights (alpha 1.0).
MOBILENET_V2_SIZES = (96, 128, 160, 192, 224)
#: The size notebook 10 transfers at: (128 / 32)^2 = 16 times the compute of a 32x32 image, a
#: third of what 224x224 costs on a CPU.
TRANSFER_SIZE = 128

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class VerificationError(RuntimeError):
    """A file in the cache is not the file it should be; the message says what differs."""


def hash_algorithm(file_hash: str) -> str:
    """The algorithm Keras' ``get_file`` infers from a hash: 64 hex digits SHA-256, else MD5."""
    return "sha256" if len(file_hash) == 64 else "md5"


@dataclass(frozen=True)
class CacheItem:
    """One file the course downloads with ``keras.utils.get_file``, and how to check it.

    ``fname``, ``origin``, ``cache_subdir``, ``file_hash`` and ``extract`` are exactly the
    arguments Keras' own loader passes, so the file lands where that loader looks.
    ``file_hash`` is None where Keras publishes none; ``check`` then verifies the content.
    """

    name: str
    description: str
    fname: str
    origin: str
    cache_subdir: str
    approx_mb: float
    file_hash: str | None = None
    hash_source: str = ""
    extract: bool = False
    check: Callable[[Path], str] | None = field(default=None, compare=False)

    @property
    def cache_file(self) -> Path:
        """The file ``get_file`` writes (an archive is kept next to its extracted folder)."""
        if self.extract and "." not in self.fname:
            return keras_home() / self.cache_subdir / f"{self.fname}_archive"
        return keras_home() / self.cache_subdir / self.fname

    @property
    def host(self) -> tuple[str, int]:
        """The server the file comes from, for the network probe."""
        parts = urllib.parse.urlsplit(self.origin)
        return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)

    def verify(self, path: Path) -> str:
        """Check a file in the cache; returns what was checked, else :class:`VerificationError`."""
        if not path.is_file():
            raise VerificationError(f"{path} is missing")
        if self.file_hash is not None:
            algorithm = hash_algorithm(self.file_hash)
            actual = file_digest(path, algorithm)
            if actual != self.file_hash:
                raise VerificationError(
                    f"{path.name} is corrupt or truncated: its {algorithm} is {actual[:12]}..., "
                    f"{self.hash_source} expects {self.file_hash[:12]}..."
                )
            return f"{algorithm} matches {self.hash_source}"
        if self.check is not None:
            return self.check(path)
        return "no hash published: not verified"


def mobilenet_v2_file(include_top: bool, size: int) -> str:
    """The file name ``keras.applications.MobileNetV2`` (alpha 1.0) downloads for these settings."""
    if size not in MOBILENET_V2_SIZES:
        raise ValueError(
            f"Keras publishes MobileNetV2 weights for sizes {MOBILENET_V2_SIZES}, not {size}"
        )
    suffix = "" if include_top else "_no_top"
    return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}{suffix}.h5"


def _h5_names(obj, attribute: str) -> list[str]:
    """A list of names stored as an HDF5 attribute.

    Also when Keras split a long list into the attributes ``name0``, ``name1``, ...
    """
    if attribute in obj.attrs:
        values = list(obj.attrs[attribute])
    else:
        values, chunk = [], 0
        while f"{attribute}{chunk}" in obj.attrs:
            values.extend(obj.attrs[f"{attribute}{chunk}"])
            chunk += 1
    return [value.decode("utf8") if isinstance(value, bytes) else str(value) for value in values]


def check_keras_weights(path: Path, include_top: bool, expected_values: int | None = None) -> str:
    """Verify a MobileNetV2 weight file in Keras' HDF5 layout by its content.

    Opens it with h5py, reads every stored array (a truncated file fails here), and checks the
    layer names (``Conv1`` first, ``Conv_1`` last, ``predictions`` only with the top) and the
    total number of values against the architecture's. Returns a one-line summary.
    """
    import h5py

    expected = MOBILENET_V2_VALUES[include_top] if expected_values is None else expected_values
    with open(path, "rb") as handle:
        if handle.read(8) != HDF5_SIGNATURE:
            raise VerificationError(
                f"{path.name} is not an HDF5 file (an HTML error page saved by a proxy?)"
            )
    try:
        with h5py.File(path, "r") as h5:
            names = _h5_names(h5, "layer_names")
            total = 0
            for layer in names:
                group = h5[layer]
                for weight in _h5_names(group, "weight_names"):
                    total += int(group[weight][()].size)
    except VerificationError:
        raise
    except Exception as exc:  # h5py raises OSError/KeyError on truncated or damaged files
        raise VerificationError(
            f"{path.name} cannot be read as Keras weights ({type(exc).__name__}: {str(exc)[:100]})"
        ) from exc
    if not names:
        raise VerificationError(f"{path.name} has no 'layer_names': not a Keras weight file")
    required = {"Conv1", "Conv_1"} | ({"predictions"} if include_top else set())
    missing = sorted(required - set(names))
    if missing:
        raise VerificationError(
            f"{path.name} lacks the layers {missing}: not MobileNetV2 weights of this kind"
        )
    if not include_top and "predictions" in names:
        raise VerificationError(
            f"{path.name} has the ImageNet classifier: a with-top file saved under a no-top name"
        )
    if total != expected:
        raise VerificationError(
            f"{path.name} stores {total:,} values, MobileNetV2 has {expected:,}"
        )
    return (
        f"content checked: {len(names)} layers, {total:,} values, as MobileNetV2 "
        "(Keras publishes no hash)"
    )


def _mobilenet_v2_item(include_top: bool, size: int, description: str) -> CacheItem:
    fname = mobilenet_v2_file(include_top, size)
    name = f"mobilenet_v2_{size}" if include_top else f"mobilenet_v2_no_top_{size}"
    return CacheItem(
        name=name,
        description=description,
        fname=fname,
        origin=MOBILENET_V2_BASE + fname,
        cache_subdir="models",
        approx_mb=14.0 if include_top else 9.4,
        hash_source="keras.applications.mobilenet_v2 (no hash published)",
        check=lambda path, top=include_top: check_keras_weights(path, top),
    )


#: Everything the course downloads, in the order the command fetches it. Hashes and origins
#: are copied from Keras' own source; tests/test_download.py checks they still match it.
ITEMS: tuple[CacheItem, ...] = (
    CacheItem(
        name="mnist",
        description=(
            "keras.datasets.mnist: 60,000 / 10,000 handwritten digits (notebooks 01, 06, 10, ...)"
        ),
        fname="mnist.npz",
        origin="https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        cache_subdir="datasets",
        approx_mb=11.5,
        file_hash="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
        hash_source="keras.datasets.mnist.load_data",
    ),
    CacheItem(
        name="cifar10",
        description=(
            "keras.datasets.cifar10: 50,000 / 10,000 colour photos, 10 classes "
            "(notebooks 07, 10, ...)"
        ),
        fname="cifar-10-batches-py-target",
        origin="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        cache_subdir="datasets",
        approx_mb=170.5,
        file_hash="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        hash_source="keras.datasets.cifar10.load_data",
        extract=True,
    ),
    CacheItem(
        name="imdb",
        description=(
            "keras.datasets.imdb: 25,000 / 25,000 movie reviews as word indices (notebook 15)"
        ),
        fname="imdb.npz",
        origin="https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz",
        cache_subdir="datasets",
        approx_mb=17.5,
        file_hash="69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
        hash_source="keras.datasets.imdb.load_data",
    ),
    CacheItem(
        name="imdb_word_index",
        description=(
            "keras.datasets.imdb.get_word_index(): IMDB's word -> index table (notebook 15)"
        ),
        fname="imdb_word_index.json",
        origin="https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb_word_index.json",
        cache_subdir="datasets",
        approx_mb=1.6,
        file_hash="bfafd718b763782e994055a2d397834f",
        hash_source="keras.datasets.imdb.get_word_index",
    ),
    CacheItem(
        name="imagenet_class_index",
        description=(
            "ImageNet's 1,000 class names for keras.applications.*.decode_predictions (notebook 10)"
        ),
        fname="imagenet_class_index.json",
        origin="https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
        cache_subdir="models",
        approx_mb=0.04,
        file_hash="c2c37ea517e94d9795004a39431a14cb",
        hash_source="keras.applications.imagenet_utils.decode_predictions",
    ),
    _mobilenet_v2_item(
        True, 224, "MobileNetV2 ImageNet weights with its 1,000-class top, 224x224 (notebook 10)"
    ),
    _mobilenet_v2_item(
        False,
        TRANSFER_SIZE,
        f"MobileNetV2 ImageNet weights, no top, {TRANSFER_SIZE}x{TRANSFER_SIZE} "
        "(notebook 10's transfer)",
    ),
    _mobilenet_v2_item(
        False,
        224,
        "MobileNetV2 ImageNet weights, no top, 224x224 (notebook 10, the lab's image size)",
    ),
)

#: What notebook 10's ImageNet path needs.
IMAGENET_ITEMS = (
    "imagenet_class_index",
    "mobilenet_v2_224",
    f"mobilenet_v2_no_top_{TRANSFER_SIZE}",
)


def item_names() -> list[str]:
    """Names the command accepts after ``--only``."""
    return [item.name for item in ITEMS]


def find_items(names: Iterable[str] | None = None) -> list[CacheItem]:
    """The items called ``names`` (all of them for None), in the order of :data:`ITEMS`."""
    if names is None:
        return list(ITEMS)
    wanted = list(dict.fromkeys(names))
    known = {item.name: item for item in ITEMS}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ValueError(f"unknown item(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [item for item in ITEMS if item.name in wanted]


# --------------------------------------------------------------------------- fetching


@dataclass(frozen=True)
class ItemResult:
    """What happened to one item: ``status`` is ``fetched``, ``already cached`` or ``failed``."""

    item: CacheItem
    status: str
    path: Path
    detail: str
    sha256: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def _get_file(item: CacheItem, force: bool) -> str:
    """Keras' own downloader, with the arguments Keras' loader for this file uses."""
    from keras.utils import get_file

    return get_file(
        fname=item.fname,
        origin=item.origin,
        cache_subdir=item.cache_subdir,
        file_hash=item.file_hash,
        extract=item.extract,
        force_download=force,
    )


def cached_and_verified(item: CacheItem) -> tuple[bool, str]:
    """(True, what was checked) if the item is cached and passes its check, else (False, why)."""
    path = item.cache_file
    if not path.exists():
        return False, "not in the cache"
    try:
        return True, item.verify(path)
    except VerificationError as exc:
        return False, str(exc)


def fetch_item(
    item: CacheItem, network: bool, cached: tuple[bool, str] | None = None
) -> ItemResult:
    """Make sure one item is in the cache and verified; download it when needed and ``network``.

    ``cached`` is :func:`cached_and_verified`'s answer when the caller already has it (so a large
    cached file is not read once more). A stalled download gives up after
    :data:`~course_utils.cache.NETWORK_TIMEOUT` seconds without data (``urlretrieve`` has no
    timeout of its own).
    """
    path = item.cache_file
    ok, why = cached_and_verified(item) if cached is None else cached
    if ok:
        return ItemResult(item, "already cached", path, why, file_digest(path))
    if not network:
        reason = (
            "not in the cache, and no network to fetch it"
            if not path.exists()
            else f"{why}; no network to fetch it again"
        )
        return ItemResult(item, "failed", path, reason)
    try:
        with socket_timeout(NETWORK_TIMEOUT):
            _get_file(item, force=path.exists())
    # Keras raises a bare Exception("URL fetch failure ...") or a ValueError (hash mismatch).
    except Exception as exc:
        return ItemResult(
            item, "failed", path, f"download failed: {type(exc).__name__}: {str(exc)[:160]}"
        )
    try:
        detail = item.verify(path)
    except VerificationError as exc:
        return ItemResult(item, "failed", path, f"downloaded, but {exc}")
    return ItemResult(item, "fetched", path, detail, file_digest(path))


def reachable_hosts(
    items: Sequence[CacheItem], timeout: float = NETWORK_TIMEOUT
) -> dict[tuple[str, int], bool]:
    """Probe each distinct server of ``items`` once (at most ``timeout`` seconds each)."""
    return {
        host: network_available(host, timeout)
        for host in dict.fromkeys(item.host for item in items)
    }


# --------------------------------------------------------------------------- notebook 10


@dataclass(frozen=True)
class ImageNetStatus:
    """Which path notebook 10 takes: ``weights`` is what it passes to ``keras.applications``."""

    available: bool
    weights: str | None
    test_mode: bool
    reason: str

    @property
    def path(self) -> str:
        return "imagenet" if self.available else "offline"

    def banner(self) -> str:
        """The one loud line the notebook prints."""
        if self.test_mode:
            return (
                f"IMAGENET PATH, TEST MODE ({IMAGENET_WEIGHTS_ENV}=none): weights=None, "
                "RANDOM weights. Every prediction and accuracy of the ImageNet sections is "
                "MEANINGLESS; only the code runs."
            )
        if self.available:
            return f"IMAGENET PATH: pretrained MobileNetV2 weights ready ({self.reason})."
        return (
            f"OFFLINE PATH: no ImageNet weights ({self.reason}). The ImageNet sections are "
            "skipped; transfer learning is taught with a backbone this notebook pretrains on "
            "MNIST digits 0-4. "
            "With internet, run `python -m course_utils.download` once."
        )


def _placeholder_class_index() -> None:
    """Give ``decode_predictions`` placeholder names so test mode needs no download (Keras keeps
    the loaded index in a module global; a real index already loaded is left alone)."""
    try:
        from keras.src.applications import imagenet_utils
    except ImportError:  # a Keras without that module: decode_predictions will try to download
        return
    if getattr(imagenet_utils, "CLASS_INDEX", None) is None:
        imagenet_utils.CLASS_INDEX = {
            str(i): [f"n{i:08d}", f"placeholder_{i}"] for i in range(1000)
        }


def imagenet_weights_status(
    names: Sequence[str] | None = None, download: bool = True
) -> ImageNetStatus:
    """Can notebook 10 use pretrained ImageNet weights? Decided once; never hangs.

    The ImageNet path runs when every file in ``names`` (default :data:`IMAGENET_ITEMS`) is in
    Keras' cache and verified, or when the network answers and (with ``download=True``)
    fetching the missing ones succeeds (each stalled connection gives up after a few seconds).
    Otherwise the offline path runs: with ``COURSE_OFFLINE=1`` without probing.
    ``COURSE_IMAGENET_WEIGHTS=none`` (tests only) takes the ImageNet path with ``weights=None``
    and placeholder class names.
    """
    mode = os.environ.get(IMAGENET_WEIGHTS_ENV, "").strip().lower()
    if mode == "none":
        _placeholder_class_index()
        return ImageNetStatus(True, None, True, f"{IMAGENET_WEIGHTS_ENV}=none")
    if mode not in ("", "imagenet"):
        raise ValueError(
            f"{IMAGENET_WEIGHTS_ENV} must be 'none' (tests only) or unset, got {mode!r}"
        )
    items = find_items(IMAGENET_ITEMS if names is None else names)
    checks = {item.name: cached_and_verified(item) for item in items}
    missing = [item for item in items if not checks[item.name][0]]
    if not missing:
        return ImageNetStatus(
            True, "imagenet", False, f"all {len(items)} files in Keras' cache, verified"
        )
    if offline_forced():
        return ImageNetStatus(False, None, False, f"{OFFLINE_ENV}=1 is set")
    host = missing[0].host
    if not network_available(host):
        return ImageNetStatus(
            False,
            None,
            False,
            f"not in Keras' cache, and {host[0]} did not answer within {NETWORK_TIMEOUT:.0f} s",
        )
    if not download:
        return ImageNetStatus(
            True, "imagenet", False, "the network answers; Keras will download the weights"
        )
    results = [fetch_item(item, network=True, cached=checks[item.name]) for item in missing]
    failed = [r for r in results if not r.ok]
    if failed:
        return ImageNetStatus(False, None, False, f"{failed[0].item.name}: {failed[0].detail}")
    return ImageNetStatus(
        True, "imagenet", False, f"downloaded {len(results)} file(s) into {keras_home()}"
    )


# --------------------------------------------------------------------------- command line


def _size(mb: float) -> str:
    return f"{mb:,.1f} MB" if mb >= 0.1 else f"{mb * 1000:,.0f} kB"


def list_items(items: Sequence[CacheItem], out: Callable[[str], None]) -> None:
    """``--list``: what would be fetched, from where, to where, and whether it is cached."""
    out(
        f"Keras cache: {keras_home()}  "
        f"({'$KERAS_HOME' if 'KERAS_HOME' in os.environ else '~/.keras'})"
    )
    for item in items:
        state = "cached" if item.cache_file.exists() else "not cached"
        verified = (
            f"hash from {item.hash_source}"
            if item.file_hash
            else "verified by content (Keras publishes no hash)"
        )
        out(f"\n{item.name}  [{state}]  ~{_size(item.approx_mb)}")
        out(f"  {item.description}")
        out(f"  from  {item.origin}")
        out(f"  to    {item.cache_file}{'  (and extracted next to it)' if item.extract else ''}")
        out(f"  check {verified}")
    total = sum(item.approx_mb for item in items)
    out(f"\n{len(items)} item(s), about {_size(total)} in all.")


def report(results: Sequence[ItemResult], out: Callable[[str], None]) -> None:
    """One line per item, then a summary."""
    width = max(len(r.item.name) for r in results)
    for r in results:
        digest = f"sha256 {r.sha256[:16]}...  " if r.sha256 else ""
        out(f"{r.item.name:<{width}}  {r.status:<14}  {digest}{r.detail}")
        if r.ok:
            out(f"{'':<{width}}  {'':<14}  -> {r.path}")
    counts = {
        status: sum(r.status == status for r in results)
        for status in ("fetched", "already cached", "failed")
    }
    out(
        f"{len(results)} item(s): {counts['fetched']} fetched, "
        f"{counts['already cached']} already cached, {counts['failed']} failed."
    )


def _offline_message(results: Sequence[ItemResult], hosts: dict[tuple[str, int], bool]) -> str:
    down = ", ".join(f"{host}:{port}" for (host, port), up in hosts.items() if not up)
    why = (
        f"{OFFLINE_ENV}=1 is set"
        if offline_forced()
        else f"could not reach {down} within {NETWORK_TIMEOUT:.0f} s"
    )
    return (
        f"No network ({why}): {sum(not r.ok for r in results)} item(s) could not be fetched. "
        f"Run this command on a machine with internet, then copy {keras_home()} to the same "
        "place on the lab machines (or point KERAS_HOME at the copy)."
    )


def main(argv: Iterable[str] | None = None) -> int:
    """The command; returns the exit status (0 all present and verified, 1 some failed, 2 usage)."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.download",
        description=(
            "Fetch the course's datasets and pretrained weights into Keras' cache, verified, "
            "for machines that will have no internet."
        ),
    )
    parser.add_argument(
        "--list", action="store_true", help="show what would be fetched and where; fetch nothing"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        choices=item_names(),
        help=f"fetch only these: {', '.join(item_names())}",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)

    def out(line: str) -> None:
        print(line, flush=True)

    items = find_items(args.only)
    if args.list:
        list_items(items, out)
        return 0
    cached = {item.name: cached_and_verified(item) for item in items}
    needed = [item for item in items if not cached[item.name][0]]
    hosts = {} if not needed or offline_forced() else reachable_hosts(needed)
    if needed:
        up = [f"{host}:{port}" for (host, port), ok in hosts.items() if ok]
        out(
            f"Fetching {len(needed)} item(s) into {keras_home()} "
            f"(reachable: {', '.join(up) or 'none'}) ..."
        )
    results = [fetch_item(item, hosts.get(item.host, False), cached[item.name]) for item in items]
    report(results, out)
    if all(r.ok for r in results):
        return 0
    if needed and (offline_forced() or not any(hosts.values())):
        print(_offline_message(results, hosts), file=sys.stderr, flush=True)
    else:
        print(
            "Some items failed (see above); run the command again to retry them.",
            file=sys.stderr,
            flush=True,
        )
    return 1


if __name__ == "__main__":
    sys.exit(main())
