"""Shape and parameter arithmetic for convolution, pooling and dense layers.

The formula every CNN course writes on the board (PyTorch's documentation uses it too)::

    L_out = floor((L_in + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1

With ``dilation=1`` it is the familiar ``floor((N - F + 2P) / S) + 1``. Keras does not take a
number for ``padding`` but a mode: ``'valid'`` (no padding), ``'same'`` (pad so that
``L_out = ceil(L_in / stride)``) or, for ``Conv1D``, ``'causal'`` (pad on the left only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral

KERAS_PADDINGS = ("valid", "same", "causal")


def _int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must be {kind}, got {value}")
    return int(value)


def conv_output_size(
    n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Output length of a convolution along one axis, with explicit zero ``padding`` on each side.

    >>> conv_output_size(6, 3)          # the syllabus' worked example
    4
    >>> conv_output_size(32, 5)         # 32x32 input, 5x5 filter
    28
    >>> conv_output_size(7, 3, stride=2, padding=1)
    4
    """
    n = _int("input size n", n, 1)
    kernel = _int("kernel", kernel, 1)
    stride = _int("stride", stride, 1)
    padding = _int("padding", padding, 0)
    dilation = _int("dilation", dilation, 1)
    span = dilation * (kernel - 1) + 1  # how many input positions one window covers
    padded = n + 2 * padding
    if span > padded:
        raise ValueError(
            f"The window does not fit: kernel {kernel} with dilation {dilation} spans {span} "
            "positions, "
            f"but the padded input has only {padded} ({n} + 2*{padding}). "
            "Use a smaller kernel or dilation, or more padding."
        )
    return (padded - span) // stride + 1


def pool_output_size(n: int, pool: int, stride: int | None = None, padding: int = 0) -> int:
    """Output length of max/average pooling; ``stride`` defaults to ``pool`` (Keras, PyTorch).

    >>> pool_output_size(28, 2)
    14
    >>> pool_output_size(5, 2)          # the last row/column is dropped (floor)
    2
    """
    pool = _int("pool", pool, 1)
    padding = _int("padding", padding, 0)
    if 2 * padding > pool:
        raise ValueError(
            f"padding {padding} is more than half the pool size {pool}: "
            "some windows would see only padding."
        )
    return conv_output_size(n, pool, stride=pool if stride is None else stride, padding=padding)


def keras_output_size(
    n: int, kernel: int, stride: int = 1, padding: str = "valid", dilation: int = 1
) -> int:
    """Output length of a Keras ``Conv*D``/``*Pooling*D`` layer, by its ``padding`` mode.

    ``padding`` is ``'valid'``, ``'same'`` or ``'causal'``.

    >>> keras_output_size(28, 3, padding="same")
    28
    >>> keras_output_size(28, 3, stride=2, padding="same")
    14
    """
    if not isinstance(padding, str) or padding.lower() not in KERAS_PADDINGS:
        raise ValueError(
            f"padding must be one of {', '.join(repr(p) for p in KERAS_PADDINGS)}, got {padding!r}"
        )
    padding = padding.lower()
    if padding == "valid":
        return conv_output_size(n, kernel, stride=stride, padding=0, dilation=dilation)
    n = _int("input size n", n, 1)
    _int("kernel", kernel, 1)
    stride = _int("stride", stride, 1)
    _int("dilation", dilation, 1)
    return math.ceil(n / stride)  # 'same' and 'causal' pad as much as needed for this


def same_padding(n: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Zeros Keras/TensorFlow add (before, after) for ``padding='same'``.

    An odd total puts the extra zero after.

    >>> same_padding(28, 3)
    (1, 1)
    >>> same_padding(28, 4)
    (1, 2)
    """
    out = keras_output_size(n, kernel, stride=stride, padding="same", dilation=dilation)
    span = dilation * (kernel - 1) + 1
    total = max((out - 1) * stride + span - n, 0)
    return total // 2, total - total // 2


def conv_params(
    kernel_size: int | Sequence[int],
    in_channels: int,
    filters: int,
    use_bias: bool = True,
    groups: int = 1,
    rank: int = 2,
) -> int:
    """Trainable parameters of a convolution: ``(kh*kw*c_in/groups + 1) * c_out``.

    An integer ``kernel_size`` means the same size on each of ``rank`` axes, as in Keras:
    ``Conv2D(4, 3)`` has 3x3 kernels (``rank=2``, the default); use ``rank=1`` for ``Conv1D``.

    >>> conv_params((5, 5), 3, 1)       # one 5x5x3 filter and its bias
    76
    >>> conv_params(3, 1, 4)            # 4 filters of 3x3 on a grayscale image
    40
    >>> conv_params(5, 16, 32, rank=1)  # Conv1D(32, 5) on 16 channels
    2592
    """
    rank = _int("rank", rank, 1)
    sizes = [kernel_size] * rank if isinstance(kernel_size, Integral) else list(kernel_size)
    if not sizes:
        raise ValueError("kernel_size must be an integer or a non-empty sequence of integers")
    window = math.prod(_int("kernel_size", k, 1) for k in sizes)
    in_channels = _int("in_channels", in_channels, 1)
    filters = _int("filters", filters, 1)
    groups = _int("groups", groups, 1)
    if in_channels % groups or filters % groups:
        raise ValueError(
            f"groups={groups} must divide both in_channels ({in_channels}) and filters ({filters})"
        )
    return window * (in_channels // groups) * filters + (filters if use_bias else 0)


def dense_params(inputs: int, units: int, use_bias: bool = True) -> int:
    """Trainable parameters of a ``Dense`` layer: ``inputs*units + units``.

    >>> dense_params(784, 256)
    200960
    """
    inputs = _int("inputs", inputs, 1)
    units = _int("units", units, 1)
    return inputs * units + (units if use_bias else 0)
