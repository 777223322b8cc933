"""Shape arithmetic, checked by hand and against real Keras layers."""

import itertools

import numpy as np
import pytest

from course_utils.shapes import (
    conv_output_size,
    conv_params,
    dense_params,
    keras_output_size,
    pool_output_size,
    same_padding,
)


# ------------------------------------------------------------------ by hand
@pytest.mark.parametrize(
    "args, expected",
    [
        ((6, 3), 4),  # the syllabus' worked example
        ((32, 5), 28),  # 32x32x3 with a 5x5 filter
        ((28, 3), 26),
        ((7, 3, 2, 1), 4),
        ((5, 3, 2, 0), 2),
        ((10, 3, 1, 0, 2), 6),  # dilation 2: a 3-tap kernel spans 5
        ((1, 1), 1),
        ((4, 5, 1, 1), 2),  # kernel larger than the input but fits once padded
    ],
)
def test_conv_output_size(args, expected):
    assert conv_output_size(*args) == expected


def test_floor_matters():
    # (N - F + 2P)/S + 1 without the floor: (7 - 3)/3 + 1 = 2.33...
    assert conv_output_size(7, 3, stride=3) == 2


@pytest.mark.parametrize(
    "args, expected", [((28, 2), 14), ((5, 2), 2), ((24, 2), 12), ((7, 3, 2), 3), ((8, 2, 2, 1), 5)]
)
def test_pool_output_size(args, expected):
    assert pool_output_size(*args) == expected


@pytest.mark.parametrize(
    "args, expected",
    [
        ((28, 3, 1, "same"), 28),
        ((28, 3, 2, "same"), 14),
        ((27, 3, 2, "same"), 14),
        ((28, 3, 1, "valid"), 26),
        ((10, 3, 1, "causal"), 10),
    ],
)
def test_keras_output_size(args, expected):
    assert keras_output_size(*args) == expected


def test_same_padding_puts_the_odd_zero_after():
    assert same_padding(28, 3) == (1, 1)
    assert same_padding(28, 4) == (1, 2)
    assert same_padding(5, 1) == (0, 0)


@pytest.mark.parametrize(
    "args, expected",
    [
        (((5, 5), 3, 1), 76),
        ((3, 1, 4), 40),
        ((3, 4, 8), 296),
        ((1, 64, 32), 2080),
        ((3, 8, 8, True, 2), 296),
        ((3, 8, 8, False), 576),
    ],
)
def test_conv_params(args, expected):
    assert conv_params(*args) == expected


def test_conv1d_params_match_keras():
    import keras

    layer = keras.layers.Conv1D(32, 5)
    layer.build((None, 40, 16))
    assert layer.count_params() == conv_params(5, 16, 32, rank=1) == 2592


def test_dense_params():
    assert dense_params(784, 256) == 200_960
    assert dense_params(10, 1, use_bias=False) == 10


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n=0, kernel=3), "positive"),
        (dict(n=5, kernel=0), "positive"),
        (dict(n=5, kernel=3, stride=0), "positive"),
        (dict(n=5, kernel=3, padding=-1), "non-negative"),
        (dict(n=5, kernel=3, dilation=0), "positive"),
        (dict(n=5.0, kernel=3), "integer"),
        (dict(n=True, kernel=3), "integer"),
        (dict(n=3, kernel=5), "does not fit"),
        (dict(n=5, kernel=3, dilation=3), "does not fit"),
    ],
)
def test_conv_output_size_rejects(kwargs, message):
    with pytest.raises(ValueError, match=message):
        conv_output_size(**kwargs)


def test_keras_output_size_rejects_unknown_padding():
    with pytest.raises(ValueError, match="'valid', 'same', 'causal'"):
        keras_output_size(28, 3, padding="full")
    with pytest.raises(ValueError, match="padding"):
        keras_output_size(28, 3, padding=1)


def test_pool_padding_must_be_at_most_half_the_window():
    with pytest.raises(ValueError, match="half"):
        pool_output_size(8, 2, padding=2)


def test_conv_params_rejects_bad_groups_and_kernels():
    with pytest.raises(ValueError, match="groups"):
        conv_params(3, 6, 8, groups=4)
    with pytest.raises(ValueError, match="non-empty"):
        conv_params((), 3, 8)
    with pytest.raises(ValueError, match="positive"):
        conv_params((3, 0), 3, 8)


def test_numpy_integers_are_accepted():
    assert conv_output_size(np.int64(6), np.int32(3)) == 4


# ------------------------------------------------------------------ against Keras
SETTINGS = [
    (n, k, s, pad, d)
    for n, k, s, pad, d in itertools.product(
        [7, 12, 28], [1, 2, 3, 5], [1, 2, 3], ["valid", "same"], [1, 2]
    )
    if not (s > 1 and d > 1)  # Keras does not allow strides > 1 together with dilation > 1
    and d * (k - 1) + 1 <= n
]


@pytest.mark.parametrize("n, k, s, padding, d", SETTINGS)
def test_formula_matches_keras_conv2d(n, k, s, padding, d):
    import keras

    layer = keras.layers.Conv2D(2, k, strides=s, padding=padding, dilation_rate=d)
    out = layer.compute_output_shape((1, n, n, 3))
    expected = keras_output_size(n, k, stride=s, padding=padding, dilation=d)
    assert out[1] == out[2] == expected


@pytest.mark.parametrize("n, k, s, padding, d", [c for c in SETTINGS if c[4] == 1][::6])
def test_formula_matches_keras_conv2d_on_real_tensors(n, k, s, padding, d):
    import keras

    x = np.zeros((1, n, n, 3), dtype="float32")
    y = keras.layers.Conv2D(2, k, strides=s, padding=padding)(x)
    assert tuple(y.shape) == (1, *(2 * [keras_output_size(n, k, s, padding)]), 2)
    layer = keras.layers.Conv2D(4, k, padding=padding)
    layer.build((None, n, n, 3))
    assert layer.count_params() == conv_params(k, 3, 4)


@pytest.mark.parametrize("n, pool, stride", [(28, 2, None), (5, 2, None), (7, 3, 2), (10, 3, 1)])
def test_pool_formula_matches_keras(n, pool, stride):
    import keras

    out = keras.layers.MaxPooling2D(pool, strides=stride).compute_output_shape((1, n, n, 1))
    assert out[1] == pool_output_size(n, pool, stride)


def test_dense_params_match_keras():
    import keras

    layer = keras.layers.Dense(256)
    layer.build((None, 784))
    assert layer.count_params() == dense_params(784, 256)


def test_grouped_conv_params_match_keras():
    import keras

    layer = keras.layers.Conv2D(8, 3, groups=2)
    layer.build((None, 10, 10, 4))
    assert layer.count_params() == conv_params(3, 4, 8, groups=2)
