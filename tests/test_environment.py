import random

import numpy as np
import pytest

import course_utils
from course_utils.environment import environment_info


def test_setup_returns_profile_and_prints_versions(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    profile = course_utils.setup()
    out = capsys.readouterr().out
    assert profile.is_fast
    for word in ("Python", "Keras", "backend", "Devices", "Run profile: fast"):
        assert word in out


def test_setup_seeds_python_numpy_and_keras():
    import keras

    def draw():
        course_utils.setup(seed=7, quiet=True)
        return (
            random.random(),
            np.random.rand(),
            keras.ops.convert_to_numpy(keras.random.uniform((3,))).tolist(),
        )

    first, second = draw(), draw()
    assert first == second
    course_utils.setup(seed=8, quiet=True)
    assert random.random() != first[0]


def test_same_seed_gives_same_initial_weights():
    import keras

    weights = []
    for _ in range(2):
        course_utils.setup(seed=3, quiet=True)
        layer = keras.layers.Dense(4)
        layer.build((None, 5))
        weights.append(keras.ops.convert_to_numpy(layer.kernel))
    np.testing.assert_array_equal(weights[0], weights[1])


@pytest.mark.parametrize("bad", [-1, 1.5, "42", True])
def test_setup_rejects_bad_seed(bad):
    with pytest.raises(ValueError, match="seed"):
        course_utils.setup(seed=bad, quiet=True)


def test_setup_rejects_unknown_profile():
    with pytest.raises(ValueError, match="full, fast"):
        course_utils.setup(profile="medium", quiet=True)


def test_setup_mentions_forced_offline(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    course_utils.setup()
    assert "COURSE_OFFLINE=1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "gpus, devices_line",
    [([], "Devices: CPU only"), (["GPU: Fake H200"], "Devices: GPU: Fake H200")],
)
def test_setup_reports_the_devices_it_finds(monkeypatch, capsys, gpus, devices_line):
    """What the backend reports decides has_gpu and the Devices line; no GPU reads "CPU only"."""
    from course_utils import environment

    monkeypatch.setattr(environment, "_backend_details", lambda backend: ("9.9", list(gpus)))
    info = environment_info()
    assert info.has_gpu is bool(gpus)
    assert info.backend_version == "9.9" and info.cpu_count >= 1
    course_utils.setup()
    assert devices_line in capsys.readouterr().out


def test_import_does_not_load_keras():
    import subprocess
    import sys

    code = "import sys, course_utils; sys.exit(1 if 'keras' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, (
        "import course_utils must stay light"
    )
