"""Every dataset by name: :func:`load_dataset` and :func:`available_datasets`.

This registry sits above both loader modules (:mod:`course_utils.data` for images, tables and
photos, :mod:`course_utils.sequences` for sequences), so neither of them imports the other.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from .data import TABULAR_DATASETS, load_cifar10, load_mnist, load_tabular
from .sequences import TIMESERIES, load_mnist1d, load_timeseries


def _registry() -> dict[str, Callable[..., object]]:
    """Every loader by name."""
    return {
        "mnist": load_mnist,
        "cifar10": load_cifar10,
        "mnist1d": load_mnist1d,
        **{name: functools.partial(load_tabular, name) for name in TABULAR_DATASETS},
        **{name: functools.partial(load_timeseries, name) for name in TIMESERIES},
    }


def available_datasets() -> list[str]:
    """Names :func:`load_dataset` accepts."""
    return sorted(_registry())


def load_dataset(name: str, **kwargs: object) -> object:
    """Load a dataset by name (``mnist``, ``cifar10``, ``mnist1d``, a tabular one or a time
    series); see :func:`available_datasets`."""
    loaders = _registry()
    if name not in loaders:
        raise ValueError(f"Unknown dataset {name!r}. Available: {', '.join(sorted(loaders))}.")
    return loaders[name](**kwargs)
