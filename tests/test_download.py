"""course_utils.download: the prefetch command and notebook 10's online/offline decision.

Everything here runs offline: the network probe and Keras' get_file are replaced, and the
cached case uses items whose files the test writes itself. The last test executes notebook 10
on its ImageNet path with random weights (COURSE_IMAGENET_WEIGHTS=none), the code a learner with
internet runs, minus the download.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils import download

from conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "10_transfer_learning.ipynb"


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Keras cache, no COURSE_OFFLINE, no test mode."""
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.delenv(download.IMAGENET_WEIGHTS_ENV, raising=False)
    return home


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list:
    """The probe says no; get_file must never be called. Returns the list of probed hosts."""
    probed: list = []

    def probe(host=None, timeout=None):
        probed.append(host)
        return False

    def no_get_file(item, force):
        # pytest.fail raises Failed, a BaseException: fetch_item's `except Exception` cannot
        # swallow it, so a download attempt fails the test instead of becoming a "failed" row.
        pytest.fail(f"get_file called for {item.name} without a network")

    monkeypatch.setattr(download, "network_available", probe)
    monkeypatch.setattr(download, "_get_file", no_get_file)
    return probed


def fake_item(
    name: str, content: bytes, subdir: str = "datasets", with_hash: bool = True, **extra
) -> download.CacheItem:
    """An item whose right content is ``content`` (its SHA-256 is the item's hash)."""
    return download.CacheItem(
        name=name,
        description=f"fake {name}",
        fname=f"{name}.bin",
        origin=f"https://example.invalid/{name}.bin",
        cache_subdir=subdir,
        approx_mb=0.001,
        file_hash=hashlib.sha256(content).hexdigest() if with_hash else None,
        hash_source="the test",
        **extra,
    )


def use_items(monkeypatch: pytest.MonkeyPatch, *items: download.CacheItem) -> None:
    monkeypatch.setattr(download, "ITEMS", tuple(items))
    monkeypatch.setattr(download, "IMAGENET_ITEMS", tuple(item.name for item in items))


def write_cached(item: download.CacheItem, content: bytes) -> Path:
    item.cache_file.parent.mkdir(parents=True, exist_ok=True)
    item.cache_file.write_bytes(content)
    return item.cache_file


# --------------------------------------------------------------------------- the item list


def test_hashes_origins_and_file_names_are_keras_own():
    """Every hash and origin is copied from Keras' source, not invented: check it is still there."""
    from keras.src.applications import imagenet_utils, mobilenet_v2
    from keras.src.datasets import cifar10, imdb, mnist

    sources = {
        "mnist": inspect.getsource(mnist),
        "cifar10": inspect.getsource(cifar10),
        "imagenet_class_index": inspect.getsource(imagenet_utils),
        "imdb": inspect.getsource(imdb.load_data),
        "imdb_word_index": inspect.getsource(imdb.get_word_index),
    }
    for name, source in sources.items():
        item = download.find_items([name])[0]
        assert item.file_hash and item.file_hash in source, f"{name}: hash not in Keras' source"
        assert f'"{item.fname}"' in source or f"'{item.fname}'" in source, (
            f"{name}: file name not in Keras' source"
        )
        flat = source.replace('"\n    "', "").replace('"\n        "', "")
        assert item.origin in flat or item.origin.rsplit("/", 1)[0] in flat, (
            f"{name}: origin not in Keras' source"
        )
    assert mobilenet_v2.BASE_WEIGHT_PATH == download.MOBILENET_V2_BASE
    assert "file_hash" not in inspect.getsource(mobilenet_v2), (
        "Keras now publishes MobileNetV2 hashes: use them"
    )
    for item in download.ITEMS:
        if item.name.startswith("mobilenet_v2"):
            assert item.file_hash is None and item.check is not None
            assert item.origin == mobilenet_v2.BASE_WEIGHT_PATH + item.fname


def test_mobilenet_v2_file_names_and_sizes_match_keras():
    import keras

    source = inspect.getsource(keras.src.applications.mobilenet_v2.MobileNetV2)
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels" in source and "_no_top.h5" in source
    assert (
        download.mobilenet_v2_file(False, 128)
        == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_128_no_top.h5"
    )
    assert (
        download.mobilenet_v2_file(True, 224)
        == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"
    )
    with pytest.raises(ValueError, match="sizes"):
        download.mobilenet_v2_file(False, 150)
    for include_top, values in download.MOBILENET_V2_VALUES.items():
        model = keras.applications.MobileNetV2(
            weights=None,
            include_top=include_top,
            input_shape=(96, 96, 3) if not include_top else None,
        )
        assert model.count_params() == values


def test_item_names_are_unique_and_cover_the_notebook():
    names = download.item_names()
    assert len(names) == len(set(names))
    assert {"mnist", "cifar10", "imdb", "imdb_word_index", *download.IMAGENET_ITEMS} <= set(names)
    with pytest.raises(ValueError, match="unknown item"):
        download.find_items(["mnist", "imagenet21k"])


def test_cache_paths_follow_keras(keras_home):
    mnist, cifar = download.find_items(["mnist", "cifar10"])
    assert mnist.cache_file == keras_home / "datasets" / "mnist.npz"
    # get_file(fname="cifar-10-batches-py-target", extract=True) keeps the archive under this name
    assert cifar.cache_file == keras_home / "datasets" / "cifar-10-batches-py-target_archive"
    assert download.find_items(["mobilenet_v2_224"])[0].cache_file.parent == keras_home / "models"
    assert mnist.host == ("storage.googleapis.com", 443) and cifar.host == (
        "www.cs.toronto.edu",
        443,
    )


# -------------------------------------------------------------------- weight files by content


def _legacy_weights(path: Path, include_top: bool) -> Path:
    """A MobileNetV2 weight file in the HDF5 layout of Keras' published files (random values)."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    model = keras.applications.MobileNetV2(
        weights=None, include_top=include_top, input_shape=None if include_top else (96, 96, 3)
    )
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, model)
    return path


def test_weight_files_are_checked_by_content(tmp_path):
    no_top = _legacy_weights(tmp_path / "no_top.h5", include_top=False)
    assert "2,257,984 values" in download.check_keras_weights(no_top, include_top=False)
    with pytest.raises(download.VerificationError, match="predictions"):
        download.check_keras_weights(no_top, include_top=True)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(no_top.read_bytes()[: no_top.stat().st_size // 2])
    with pytest.raises(download.VerificationError, match="cannot be read"):
        download.check_keras_weights(truncated, include_top=False)
    html = tmp_path / "error_page.h5"
    html.write_text("<html>proxy error</html>")
    with pytest.raises(download.VerificationError, match="not an HDF5 file"):
        download.check_keras_weights(html, include_top=False)
    with pytest.raises(download.VerificationError, match="stores 2,257,984 values"):
        download.check_keras_weights(no_top, include_top=False, expected_values=1000)


def test_top_weights_checked_and_loadable_by_keras(tmp_path):
    import keras

    top = _legacy_weights(tmp_path / "top.h5", include_top=True)
    assert "3,538,984 values" in download.check_keras_weights(top, include_top=True)
    with pytest.raises(download.VerificationError, match="ImageNet classifier"):
        download.check_keras_weights(top, include_top=False)
    keras.applications.MobileNetV2(weights=str(top))  # the layout Keras' own loader reads


# --------------------------------------------------------------------------- the command


def test_list_shows_what_where_and_fetches_nothing(keras_home, no_network, capsys):
    assert download.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert str(keras_home) in out and no_network == []
    for item in download.ITEMS:
        assert item.name in out and item.origin in out and str(item.cache_file) in out
    assert "not cached" in out and "Keras publishes no hash" in out
    assert f"{len(download.ITEMS)} item(s)" in out
    assert not keras_home.exists(), "--list must not create or fetch anything"


def test_list_only_and_cached_state(keras_home, monkeypatch, capsys):
    item = fake_item("fake", b"abc")
    use_items(monkeypatch, item, fake_item("other", b"xyz"))
    write_cached(item, b"abc")
    assert download.main(["--list", "--only", "fake"]) == 0
    out = capsys.readouterr().out
    assert "fake  [cached]" in out and "other" not in out


def test_offline_fails_fast_with_a_clear_message(keras_home, no_network, capsys):
    # "fast" is counted, not timed: one probe per server and no download attempt (no_network
    # fails the test if get_file is called).
    assert download.main(["--only", "mnist", "imagenet_class_index"]) == 1
    captured = capsys.readouterr()
    assert no_network == [("storage.googleapis.com", 443)], (
        "one probe per server, before any download"
    )
    assert (
        "No network" in captured.err
        and "could not reach storage.googleapis.com:443" in captured.err
    )
    assert str(keras_home) in captured.err and "copy" in captured.err
    assert (
        captured.out.count("failed") >= 2
        and "0 fetched, 0 already cached, 2 failed" in captured.out
    )


def test_course_offline_means_no_probe(keras_home, no_network, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    assert download.main(["--only", "mnist"]) == 1
    assert no_network == []
    assert "COURSE_OFFLINE=1 is set" in capsys.readouterr().err


def test_cached_items_are_verified_without_network(keras_home, no_network, monkeypatch, capsys):
    items = [fake_item("first", b"one"), fake_item("second", b"two", subdir="models")]
    use_items(monkeypatch, *items)
    for item, content in zip(items, (b"one", b"two"), strict=True):
        write_cached(item, content)
    assert download.main([]) == 0
    out = capsys.readouterr().out
    assert no_network == [], "nothing to fetch: no probe"
    assert out.count("already cached") == 3 and "sha256 matches the test" in out
    assert "2 item(s): 0 fetched, 2 already cached, 0 failed." in out
    assert f"sha256 {hashlib.sha256(b'one').hexdigest()[:16]}" in out


def test_corrupt_cached_file_is_reported_offline(keras_home, no_network, monkeypatch, capsys):
    item = fake_item("fake", b"the real thing")
    use_items(monkeypatch, item)
    write_cached(item, b"the real th")  # truncated
    assert download.main([]) == 1
    out = capsys.readouterr().out
    assert "corrupt or truncated" in out and "no network to fetch it again" in out


def test_fetch_downloads_verifies_and_reports(keras_home, monkeypatch, capsys):
    good, bad = fake_item("good", b"payload"), fake_item("bad", b"expected")
    use_items(monkeypatch, good, bad)
    calls = []

    def fake_get_file(item, force):
        calls.append((item.name, force))
        write_cached(item, b"payload" if item.name == "good" else b"something else")
        return str(item.cache_file)

    monkeypatch.setattr(download, "network_available", lambda host=None, timeout=None: True)
    monkeypatch.setattr(download, "_get_file", fake_get_file)
    assert download.main([]) == 1
    captured = capsys.readouterr()
    assert calls == [("good", False), ("bad", False)]
    assert (
        "good" in captured.out
        and "fetched" in captured.out
        and "downloaded, but bad.bin is corrupt" in captured.out
    )
    assert "1 fetched, 0 already cached, 1 failed" in captured.out
    assert "run the command again" in captured.err and "No network" not in captured.err
    # second run: the good one is cached now; the bad one is fetched again, forced over the bad copy
    calls.clear()
    assert download.main(["--only", "good"]) == 0
    assert calls == [] and "already cached" in capsys.readouterr().out


def test_download_errors_and_unverifiable_items(keras_home, monkeypatch, capsys):
    item = fake_item("flaky", b"data")
    checked = fake_item("weights", b"", with_hash=False, check=lambda path: "content checked: fine")
    use_items(monkeypatch, item, checked)
    monkeypatch.setattr(download, "network_available", lambda host=None, timeout=None: True)

    def failing(it, force):
        if it.name == "flaky":
            raise Exception(
                "URL fetch failure on https://example.invalid/flaky.bin: None -- timed out"
            )
        write_cached(it, b"h5 bytes")
        return str(it.cache_file)

    monkeypatch.setattr(download, "_get_file", failing)
    assert download.main([]) == 1
    out = capsys.readouterr().out
    assert "download failed: Exception: URL fetch failure" in out
    assert "content checked: fine" in out and "1 fetched" in out


def test_unknown_item_is_a_usage_error(keras_home, capsys):
    with pytest.raises(SystemExit) as exit_info:
        download.main(["--only", "imagenet21k"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_command_line_exit_codes(tmp_path):
    env = {
        **os.environ,
        "KERAS_HOME": str(tmp_path),
        "COURSE_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
    }
    env.pop(download.IMAGENET_WEIGHTS_ENV, None)
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "course_utils.download", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    listed = run("--list")
    assert listed.returncode == 0 and "mobilenet_v2_no_top_128" in listed.stdout
    offline = run("--only", "mnist")
    assert offline.returncode == 1 and "No network (COURSE_OFFLINE=1 is set)" in offline.stderr
    assert run("--only", "nothing").returncode == 2


# --------------------------------------------------------------------------- notebook 10's decision


def test_status_test_mode(keras_home, no_network, monkeypatch):
    from keras.src.applications import imagenet_utils

    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", None)  # restored after the test
    monkeypatch.setenv(download.IMAGENET_WEIGHTS_ENV, "none")
    status = download.imagenet_weights_status()
    assert status.available and status.weights is None and status.test_mode and no_network == []
    assert imagenet_utils.CLASS_INDEX["281"][1] == "placeholder_281", (
        "decode_predictions needs no download in test mode"
    )
    assert "MEANINGLESS" in status.banner() and status.path == "imagenet"
    monkeypatch.setenv(download.IMAGENET_WEIGHTS_ENV, "resnet")
    with pytest.raises(ValueError, match="none"):
        download.imagenet_weights_status()


def test_status_offline(keras_home, no_network, monkeypatch):
    status = download.imagenet_weights_status()
    assert not status.available and status.weights is None and status.path == "offline"
    assert "did not answer" in status.reason and status.banner().startswith("OFFLINE PATH")
    assert len(no_network) == 1
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    assert "COURSE_OFFLINE=1" in download.imagenet_weights_status().reason and len(no_network) == 1


def test_status_cached_needs_no_network(keras_home, no_network, monkeypatch):
    item = fake_item("weights", b"w")
    use_items(monkeypatch, item)
    write_cached(item, b"w")
    status = download.imagenet_weights_status()
    assert status.available and status.weights == "imagenet" and not status.test_mode
    assert "in Keras' cache" in status.reason and no_network == []
    write_cached(item, b"corrupt")
    assert not download.imagenet_weights_status().available


def test_status_downloads_missing_files(keras_home, monkeypatch):
    item = fake_item("weights", b"w")
    use_items(monkeypatch, item)
    monkeypatch.setattr(download, "network_available", lambda host=None, timeout=None: True)
    monkeypatch.setattr(download, "_get_file", lambda it, force: write_cached(it, b"w"))
    status = download.imagenet_weights_status()
    assert (
        status.available and status.weights == "imagenet" and "downloaded 1 file" in status.reason
    )
    item.cache_file.unlink()
    monkeypatch.setattr(
        download,
        "_get_file",
        lambda it, force: (_ for _ in ()).throw(Exception("URL fetch failure")),
    )
    status = download.imagenet_weights_status()
    assert not status.available and "URL fetch failure" in status.reason


# -------------------------------------------------------------------- notebook 10, ImageNet path


@pytest.mark.slow
def test_notebook_imagenet_path_runs_with_random_weights(monkeypatch, tmp_path):
    """The code a learner with internet runs, end to end, with weights=None instead of the download.

    Fast profile, offline data (CIFAR-10's stand-in), random MobileNetV2 weights and placeholder
    class names: sections 6 and 11 run every line of the ImageNet path except the download itself.
    """
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    monkeypatch.setenv("COURSE_PROFILE", "fast")
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv(download.IMAGENET_WEIGHTS_ENV, "none")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    text = "\n".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert "IMAGENET PATH, TEST MODE" in text
    assert "placeholder_" in text, "decode_predictions ran on the ImageNet classifier's output"
    assert "ImageNet path: transfer" in text, "the ImageNet transfer section ran"
    assert "ImageNet section skipped" not in text and "OFFLINE PATH" not in text
