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


def test_quiet_native_startup_holds_back_only_the_start_up_lines(capfd):
    import os

    from course_utils.environment import quiet_native_startup

    with quiet_native_startup():
        os.write(
            2,
            b"WARNING: All log messages before absl::InitializeLog() is called are written to "
            b"STDERR\nE0000 00:00:1 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR\n"
            b"I0000 port.cc:153] oneDNN custom operations are on. You may see ...\n"
            b"E0000 something.cc:1] a real problem\n",
        )
    os.write(2, b"after the block\n")
    err = capfd.readouterr().err
    assert "a real problem" in err and "after the block" in err  # kept and restored
    for noise in ("absl::InitializeLog", "cuInit", "oneDNN"):
        assert noise not in err


def _run_in_a_kernel(sources: list[str]):
    """Execute cells in a fresh IPython kernel (as JupyterLab does); return the notebook.

    ipykernel forwards file descriptor 2 to the notebook only when ``PYTEST_CURRENT_TEST`` is not
    in its environment (the reason nbval never sees these lines), so the kernel starts without it.
    """
    import os

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True).execute(env=env)
    return nb


def test_a_notebook_shows_no_start_up_lines_and_hints_at_name_errors(monkeypatch):
    """The course's setup cell, a first fit and a NameError, executed in a real kernel.

    The kernel forwards what native code writes to file descriptor 2 as `stderr` stream outputs
    (the red box in JupyterLab); none may carry TensorFlow's start-up lines. A NameError carries
    the hint to run the cells above.
    """
    from course_utils.environment import RUN_ORDER_HINT, STARTUP_NOISE

    monkeypatch.setenv("COURSE_PROFILE", "fast")
    nb = _run_in_a_kernel(
        [
            "import course_utils\n\nprofile = course_utils.setup()",
            "import keras\nimport numpy as np\n"
            "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])\n"
            "model.compile('sgd', 'mse')\n"
            "model.fit(np.ones((8, 3)), np.ones(8), epochs=1, verbose=0)",
            "print(name_from_a_cell_that_did_not_run)",
        ]
    )
    setup_out = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "Run profile: fast" in setup_out, nb.cells[0].outputs
    for index, cell in enumerate(nb.cells[:2]):
        for out in cell.outputs:
            assert out.output_type != "error", (index, out)
            if out.get("name") == "stderr":
                noisy = [ln for ln in out.text.splitlines() if STARTUP_NOISE.search(ln)]
                assert not noisy, f"cell {index}: start-up lines in stderr: {noisy}"
    (error,) = [o for o in nb.cells[2].outputs if o.output_type == "error"]
    assert error.ename == "NameError" and RUN_ORDER_HINT in error.evalue
