"""What every dataset loader shares: fixed seeds, argument checks, subsets and the one-line report.

:mod:`course_utils.data` (images, tables, photos) and :mod:`course_utils.sequences` (MNIST-1D,
time series) both build on this module; it imports neither of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import Literal, overload

import numpy as np

#: Fixed seed for offline splits and subsamples: independent of the notebook's seed, so
#: the test set is the same whatever a learner seeds.
SPLIT_SEED = 20240601
#: Seed of the test-set subsample (a different stream from the training subsample's).
TEST_SPLIT_SEED = SPLIT_SEED + 1

Split = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ImageDataInfo:
    """What an image loader actually returned: which data, from where, and the class names."""

    name: str
    source: str
    offline: bool
    class_names: tuple[str, ...]


@overload
def check_count(name: str, value: object, allow_none: Literal[False] = False) -> int: ...
@overload
def check_count(name: str, value: object, allow_none: bool) -> int | None: ...
def check_count(name: str, value: object, allow_none: bool = False) -> int | None:
    """``value`` as a Python ``int`` if it is a positive integer (``None`` too with ``allow_none``).

    Accepts Python and NumPy integers (``np.int64(5)``); rejects ``bool``, floats (even ``2.0``),
    strings and anything below 1 with a ``ValueError`` that names the argument.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        allowed = " or None (all)" if allow_none else ""
        raise ValueError(f"{name} must be a positive integer{allowed}, got {value!r}")
    return int(value)


def announce(message: str) -> None:
    """Print one line now (flushed, so it shows before a long computation starts)."""
    print(message, flush=True)


def stratified_subset(x: np.ndarray, y: np.ndarray, n: int | None, seed: int = SPLIT_SEED) -> Split:
    """``n`` samples drawn without replacement, class proportions kept.

    All of them (shuffled) if ``n`` is None or at least the number of samples.
    """
    n = check_count("n", n, allow_none=True)
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    rng = np.random.default_rng(seed)
    if n is None or n >= len(y):
        order = rng.permutation(len(y))
        return x[order], y[order]
    from sklearn.model_selection import train_test_split

    classes, counts = np.unique(y, return_counts=True)
    stratify = y if n >= len(classes) and counts.min() >= 2 else None
    x_sub, _, y_sub, _ = train_test_split(x, y, train_size=n, stratify=stratify, random_state=seed)
    return x_sub, y_sub


def subsample_and_announce(
    label: str,
    info: ImageDataInfo,
    train: Split,
    test: Split,
    n_train: int | None,
    n_test: int | None,
    with_info: bool,
    items: str = "images",
) -> tuple[Split, Split] | tuple[Split, Split, ImageDataInfo]:
    """The common end of the dataset loaders: stratified subsets (always fresh arrays, so cached
    sources stay untouched), one line naming the source and counts, and the return value."""
    available = (len(train[1]), len(test[1]))
    x_train, y_train = stratified_subset(*train, n_train)
    x_test, y_test = stratified_subset(*test, n_test, seed=TEST_SPLIT_SEED)
    announce(
        f"{label} source: {info.source}. Using {len(y_train):,} train / {len(y_test):,} test "
        f"{items} (of {available[0]:,} / {available[1]:,})."
    )
    splits = ((x_train, y_train), (x_test, y_test))
    return (*splits, info) if with_info else splits
