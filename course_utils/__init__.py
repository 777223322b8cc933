"""Helpers shared by the course notebooks.

Light to import: Keras is imported by :func:`setup` and by :mod:`course_utils.training`,
not by ``import course_utils``.

Modules: :mod:`~course_utils.profiles` (run sizes), :mod:`~course_utils.environment`
(``setup``), :mod:`~course_utils.data` (image and tabular datasets online and offline),
:mod:`~course_utils.sequences` (MNIST-1D, real time series, windows, the adding problem),
:mod:`~course_utils.text` (the Korean constitution and bills in ``data/``, IMDB when available),
:mod:`~course_utils.datasets` (every dataset by name), :mod:`~course_utils.cache` (network
probe, Keras' cache, checksums, atomic writes), :mod:`~course_utils.loading` (what the loaders
share), :mod:`~course_utils.shapes` (output sizes, parameter counts),
:mod:`~course_utils.plots`, :mod:`~course_utils.training` (``compare_models``),
:mod:`~course_utils.notebooks` (maintainers' notebook tools), :mod:`~course_utils.workspace`
(learners' own notebook copies for ``make lab``, the student zip).
"""

from .cache import DataError
from .data import load_cifar10, load_mnist, load_photo, load_tabular
from .datasets import available_datasets, load_dataset
from .environment import setup
from .profiles import Profile, get_profile
from .sequences import load_mnist1d, load_timeseries
from .shapes import (
    conv_output_size,
    conv_params,
    dense_params,
    keras_output_size,
    pool_output_size,
    same_padding,
)

__all__ = [
    "DataError",
    "Profile",
    "available_datasets",
    "conv_output_size",
    "conv_params",
    "dense_params",
    "get_profile",
    "keras_output_size",
    "load_cifar10",
    "load_dataset",
    "load_mnist",
    "load_mnist1d",
    "load_photo",
    "load_tabular",
    "load_timeseries",
    "pool_output_size",
    "same_padding",
    "setup",
]
__version__ = "0.1.0"
