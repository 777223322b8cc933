"""``setup()``: the one call at the top of every notebook."""

from __future__ import annotations

import contextlib
import os
import platform
import random
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .profiles import Profile, get_profile

DEFAULT_SEED = 42


# Lines TensorFlow's C++ runtime writes straight to file descriptor 2 while it starts: absl's
# pre-initialisation notice, oneDNN and CPU-feature notes, CUDA stub/driver probes on a machine
# without a GPU, duplicate-factory registrations. None is a problem; in JupyterLab they appear
# as a red box under the first cell. Everything else written to fd 2 meanwhile is passed on.
STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are on"
    r"|cudart_stub\.cc|Could not find cuda drivers"
    r"|failed call to cuInit"
    r"|cpu_feature_guard\.cc|This TensorFlow binary is optimized"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|TF-TRT Warning: Could not find TensorRT"
)


@contextlib.contextmanager
def quiet_native_startup() -> Iterator[None]:
    """Hold back TensorFlow's native start-up lines (see ``STARTUP_NOISE``) for the block.

    File descriptor 2 is pointed at a temporary file while the block runs (native code writes
    there, not to ``sys.stderr``), then restored; lines that are not start-up noise are written
    to ``sys.stderr`` afterwards, so real warnings and errors stay visible. Python-level output
    (``warnings``, ``logging``, ``print(file=sys.stderr)``) is not affected.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable fd 2 (e.g. pythonw): do nothing
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines() if line and not STARTUP_NOISE.search(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


RUN_ORDER_HINT = (
    "Hint (course_utils): if this name is defined in a cell above, that cell has not run in "
    "this kernel. Use Run > Run All Above Selected Cell; after a kernel restart, "
    "Kernel > Restart Kernel and Run All Cells."
)


def _add_hint(
    shell: Any,
    etype: type[BaseException],
    value: BaseException,
    tb: Any,
    tb_offset: int | None = None,
) -> None:
    """IPython custom exception handler: the usual traceback, with ``RUN_ORDER_HINT`` added."""
    if value.args and isinstance(value.args[0], str) and RUN_ORDER_HINT not in value.args[0]:
        value.args = (f"{value.args[0]}\n{RUN_ORDER_HINT}", *value.args[1:])
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset, running_compiled_code=True)


def install_run_order_hint() -> bool:
    """In IPython/Jupyter, add ``RUN_ORDER_HINT`` to every NameError's message.

    A NameError in a notebook usually means a cell above has not run (kernel restarted, cells
    run out of order). Returns whether a kernel was found (False outside IPython).
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    shell.set_custom_exc((NameError,), _add_hint)
    return True


@dataclass(frozen=True)
class EnvironmentInfo:
    """What a notebook runs on; ``setup()`` prints it."""

    python: str
    keras: str
    backend: str
    backend_version: str
    devices: list[str] = field(default_factory=list)
    cpu_count: int = 1

    @property
    def has_gpu(self) -> bool:
        return any(d.upper().startswith("GPU") for d in self.devices)


def _backend_details(backend: str) -> tuple[str, list[str]]:
    """(version, accelerator descriptions) for the active Keras backend."""
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return tf.__version__, [f"GPU: {g.name}" for g in gpus]
    if backend == "jax":
        import jax

        return jax.__version__, [f"GPU: {d}" for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch

        gpus = [f"GPU: {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
        return torch.__version__, gpus
    return "unknown", []


def full_float32_precision(backend: str) -> str:
    """Ask the backend to multiply float32 matrices in full float32 precision (TF32 off).

    On NVIDIA Ampere/Hopper GPUs TensorFlow and JAX multiply float32 matrices in TF32 by default
    (10-bit mantissa, relative error about 1e-3), and PyTorch runs cuDNN convolutions in TF32.
    The course compares Keras layers with NumPy code to float32 tolerances, so ``setup()`` turns
    that off. On a CPU nothing changes. Returns a one-line description for ``setup()`` to print.
    """
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
    elif backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
    elif backend == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
    else:
        return "float32 precision: left to the backend"
    return "float32 products in full precision (TF32 off), so NumPy comparisons hold on GPUs too"


def environment_info() -> EnvironmentInfo:
    """Collect versions and devices (imports Keras and its backend)."""
    import keras

    backend = keras.backend.backend()
    version, gpus = _backend_details(backend)
    return EnvironmentInfo(
        python=platform.python_version(),
        keras=keras.__version__,
        backend=backend,
        backend_version=version,
        devices=gpus or ["CPU only"],
        cpu_count=os.cpu_count() or 1,
    )


def setup(
    seed: int = DEFAULT_SEED,
    profile: str | None = None,
    quiet: bool = False,
    tf32: bool = False,
) -> Profile:
    """Seed everything, print versions/backend/device, and return the run profile.

    Args:
        seed: seeds Python's ``random``, NumPy and the Keras backend
            (``keras.utils.set_random_seed``), so a notebook gives the same numbers each run
            on the same machine (GPU kernels may still differ in the last digits).
        profile: ``"full"`` or ``"fast"``; default: ``$COURSE_PROFILE``, else ``"full"``.
        quiet: do not print the summary.
        tf32: allow TF32 matrix products on GPUs that have them (faster, about 3 significant
            digits). Default False: full float32, so the notebooks' NumPy-vs-Keras checks hold on
            every device (see :func:`full_float32_precision`).

    Returns:
        The :class:`~course_utils.profiles.Profile` the notebook asks for epochs and sizes.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    run_profile = get_profile(profile)
    # TensorFlow's C++ start-up chatter (CUDA stubs, CPU feature notes) is not for learners:
    # the log level hides its INFO lines, quiet_native_startup() the ones it prints regardless
    # (importing Keras and the first device query), passing anything else on.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_startup():
        import keras

        random.seed(seed)
        keras.utils.set_random_seed(seed)  # Python, NumPy and the backend's generators
        info = environment_info()
        precision = (
            "TF32 allowed (setup(tf32=True))" if tf32 else full_float32_precision(info.backend)
        )
    install_run_order_hint()
    if not quiet:
        from .cache import offline_forced

        lines = [
            f"Python {info.python} | Keras {info.keras} | "
            f"backend {info.backend} {info.backend_version}",
            f"Devices: {', '.join(info.devices)} ({info.cpu_count} CPU cores)",
            f"Run profile: {run_profile.describe()}",
            f"Random seed: {seed}",
            f"Precision: {precision}",
        ]
        if offline_forced():
            lines.append(
                "Data: COURSE_OFFLINE=1, loaders use the offline copies (no download attempted)"
            )
        print("\n".join(lines))
        sys.stdout.flush()
    return run_profile
