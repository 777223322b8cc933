"""``setup()``: the one call at the top of every notebook."""

from __future__ import annotations

import os
import platform
import random
import sys
from dataclasses import dataclass, field

from .profiles import Profile, get_profile

DEFAULT_SEED = 42


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
    # TensorFlow's C++ start-up chatter (CUDA stubs, CPU feature notes) is not for learners;
    # this only takes effect if TensorFlow has not been imported yet.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    random.seed(seed)
    keras.utils.set_random_seed(seed)  # Python, NumPy and the backend's generators
    info = environment_info()
    precision = "TF32 allowed (setup(tf32=True))" if tf32 else full_float32_precision(info.backend)
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
