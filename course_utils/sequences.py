"""Sequence data for the RNN part of the course (notebooks 11-13), all of it available offline.

* :func:`load_mnist1d`: MNIST-1D (Greydanus, 2020), 4,000 train / 1,000 test sequences of 40
  steps, 10 classes, generated locally by the ``mnist1d`` package with its published default
  arguments (seed 42), so it is the same data on every machine and needs no download.
  ``shuffle_time=True`` gives the paper's pixel-shuffled variant (same samples, the 40 time steps
  permuted by one fixed permutation).
* :func:`load_timeseries`: real measured series that ship inside installed packages
  (``statsmodels.datasets`` and ``vega_datasets``): Mauna Loa CO2, yearly sunspots, Seattle's
  hourly climate normals (30-year averages, not measurements) and measured daily maxima.
* :func:`chronological_split` and :func:`make_windows`: the plumbing of forecasting (split in time
  order, then cut (lookback -> target) windows).
* :func:`adding_problem`: the long-range "adding problem" (Hochreiter & Schmidhuber, 1997).

Every loader prints one line naming its source, like the image loaders in :mod:`course_utils.data`;
both build on :mod:`course_utils.loading` (seeds, subsets, that line), not on each other.
"""

from __future__ import annotations

import contextlib
import functools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np

from .loading import SPLIT_SEED, ImageDataInfo, Split, announce, check_count, subsample_and_announce

MNIST1D_LENGTH = 40
MNIST1D_CITATION = "Greydanus (2020), 'Scaling down deep learning', arXiv:2011.14439"


@contextlib.contextmanager
def _global_rng_preserved() -> Iterator[None]:
    """``mnist1d`` reseeds Python's and NumPy's global generators; put the notebook's back."""
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


@functools.lru_cache(maxsize=2)
def _mnist1d_arrays(
    shuffle_time: bool,
) -> tuple[Split, Split]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:  # pragma: no cover - the package is in requirements.txt
        raise ImportError(
            "MNIST-1D needs the mnist1d package: pip install -r requirements.txt"
        ) from exc
    args = get_dataset_args()
    args.shuffle_seq = shuffle_time
    with _global_rng_preserved():
        data = make_dataset(args)
    x_train, x_test = (np.asarray(data[k], dtype=np.float32) for k in ("x", "x_test"))
    y_train, y_test = (np.asarray(data[k], dtype=np.uint8) for k in ("y", "y_test"))
    for a in (x_train, x_test, y_train, y_test):
        a.flags.writeable = False  # cached: callers get fresh copies from the subsampling
    return (x_train, y_train), (x_test, y_test)


@overload
def load_mnist1d(
    n_train: int | None = None,
    n_test: int | None = None,
    shuffle_time: bool = False,
    with_info: Literal[False] = False,
) -> tuple[Split, Split]: ...
@overload
def load_mnist1d(
    n_train: int | None, n_test: int | None, shuffle_time: bool, with_info: Literal[True]
) -> tuple[Split, Split, ImageDataInfo]: ...
@overload
def load_mnist1d(
    n_train: int | None = None,
    n_test: int | None = None,
    shuffle_time: bool = False,
    *,
    with_info: Literal[True],
) -> tuple[Split, Split, ImageDataInfo]: ...
@overload
def load_mnist1d(
    n_train: int | None = None,
    n_test: int | None = None,
    shuffle_time: bool = False,
    with_info: bool = False,
) -> tuple[Split, Split] | tuple[Split, Split, ImageDataInfo]: ...
def load_mnist1d(
    n_train: int | None = None,
    n_test: int | None = None,
    shuffle_time: bool = False,
    with_info: bool = False,
) -> tuple[Split, Split] | tuple[Split, Split, ImageDataInfo]:
    """MNIST-1D: ten 1-D digit templates, shifted, scaled, sheared, noised, cut to 40 steps.

    Args:
        n_train, n_test: stratified subsets (``None``: all 4,000 / 1,000).
        shuffle_time: permute the 40 time steps with the dataset's fixed permutation (the paper's
            "shuffled" experiment: a model that relies on order should suffer).
        with_info: also return an :class:`~course_utils.data.ImageDataInfo`.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` float32 ``(N, 40)`` (standardised over
        the whole dataset, as published), ``y`` uint8 ``(N,)`` in 0..9. Add a feature axis
        (``x[..., None]``) for Conv1D/RNN layers, which want ``(batch, time, features)``.
    """
    check_count("n_train", n_train, allow_none=True)
    check_count("n_test", n_test, allow_none=True)
    train, test = _mnist1d_arrays(bool(shuffle_time))
    from importlib.metadata import version as installed_version

    version = installed_version("mnist1d")
    source = (
        f"generated locally by the mnist1d package ({version}) with the published default "
        f"arguments (seed 42; {MNIST1D_CITATION})"
        f"{'; time steps SHUFFLED by a fixed permutation' if shuffle_time else ''}"
    )
    info = ImageDataInfo(
        "mnist1d_shuffled" if shuffle_time else "mnist1d",
        source,
        False,
        tuple(str(d) for d in range(10)),
    )
    return subsample_and_announce(
        "MNIST-1D", info, train, test, n_train, n_test, with_info, items="sequences"
    )


# --------------------------------------------------------------------------- time series


@dataclass(frozen=True)
class TimeSeries:
    """One measured, evenly spaced series with what a forecaster needs to know about it."""

    name: str
    values: np.ndarray  # (T,) float32, no missing values
    dates: np.ndarray  # (T,) datetime64
    unit: str
    frequency: str  # "hourly", "daily", "weekly", "yearly"
    season: int  # steps in one seasonal cycle (the seasonal-naive baseline's lag)
    source: str
    license: str
    notes: str = ""

    def __len__(self) -> int:
        return len(self.values)


def _co2() -> tuple:
    import statsmodels.datasets

    frame = statsmodels.datasets.co2.load_pandas().data
    missing = int(frame["co2"].isna().sum())
    series = frame["co2"].interpolate(method="time")
    notes = f"{missing} missing weeks filled by linear interpolation in time"
    return series.index.values, series.to_numpy(), notes


def _sunspots() -> tuple:
    import pandas as pd
    import statsmodels.datasets

    frame = statsmodels.datasets.sunspots.load_pandas().data
    dates = pd.to_datetime(frame["YEAR"].astype(int).astype(str), format="%Y").values
    return dates, frame["SUNACTIVITY"].to_numpy(), ""


def _vega(name: str, column: str, fahrenheit: bool = False) -> tuple:
    from vega_datasets import local_data

    frame = getattr(local_data, name)()
    values = frame[column].to_numpy(dtype=np.float64)
    return frame["date"].values, (values - 32.0) * 5.0 / 9.0 if fahrenheit else values, ""


# name -> (loader, unit, frequency, season, source, license)
TIMESERIES: dict[str, tuple] = {
    "co2": (
        _co2,
        "ppm",
        "weekly",
        52,
        "statsmodels.datasets.co2: weekly atmospheric CO2 at Mauna Loa, 1958-2001 "
        "(Keeling & Whorf, SIO, CDIAC)",
        "public domain",
    ),
    "sunspots": (
        _sunspots,
        "mean sunspot number",
        "yearly",
        11,
        "statsmodels.datasets.sunspots: yearly sunspot activity 1700-2008 (NOAA NGDC)",
        "public domain",
    ),
    "seattle_temps": (
        functools.partial(_vega, "seattle_temps", "temp", fahrenheit=True),
        "°C (converted from °F)",
        "hourly",
        24,
        (
            "vega_datasets.local_data.seattle_temps: NOAA hourly climate NORMALS at "
            "Seattle-Tacoma airport (the 30-year average temperature of each hour of the year, "
            "dated 2010; smooth, not measurements)"
        ),
        "public domain (NOAA); vega_datasets MIT",
    ),
    "seattle_weather": (
        functools.partial(_vega, "seattle_weather", "temp_max"),
        "°C (daily maximum)",
        "daily",
        365,
        "vega_datasets.local_data.seattle_weather: daily maximum temperature in Seattle, "
        "2012-2015 (NOAA)",
        "public domain (NOAA); vega_datasets MIT",
    ),
}


def load_timeseries(name: str) -> TimeSeries:
    """A real univariate time series that ships inside an installed package (never a download).

    Names: ``co2`` (weekly, 2,284 steps), ``sunspots`` (yearly, 309), ``seattle_temps`` (hourly,
    8,759: NOAA's hourly *normals*, 30-year averages for each hour of the year, so much smoother
    than weather; the same hour one day later differs by about 0.1 °C), ``seattle_weather``
    (measured daily maximum, 1,461). See :data:`TIMESERIES`.
    """
    if name not in TIMESERIES:
        raise ValueError(
            f"Unknown time series {name!r}. Available: {', '.join(sorted(TIMESERIES))}."
        )
    loader, unit, frequency, season, source, license_ = TIMESERIES[name]
    dates, values, notes = loader()
    values = np.asarray(values, dtype=np.float32)
    if not np.isfinite(values).all():  # pragma: no cover - a broken package install
        raise ValueError(
            f"{name}: the series has missing values after loading; "
            "reinstall the package that ships it"
        )
    announce(
        f"Time series {name!r} source: {source}. {len(values):,} {frequency} steps in {unit}"
        f"{f' ({notes})' if notes else ''}."
    )
    return TimeSeries(
        name, values, np.asarray(dates), unit, frequency, season, source, license_, notes
    )


def chronological_split(
    values: np.ndarray, validation: float = 0.15, test: float = 0.15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a series in time order: the oldest part trains, the newest part tests.

    Shuffling before splitting would let a model see the future it is asked to predict.
    """
    values = np.asarray(values)
    for label, fraction in (("validation", validation), ("test", test)):
        if not 0 < fraction < 1:
            raise ValueError(f"{label} must be a fraction between 0 and 1, got {fraction!r}")
    if validation + test >= 1:
        raise ValueError(
            f"validation + test = {validation + test:g} leaves nothing to train on; "
            "use smaller fractions"
        )
    n = len(values)
    n_test, n_val = int(round(n * test)), int(round(n * validation))
    if min(n_test, n_val, n - n_test - n_val) < 1:
        raise ValueError(f"a series of {n} steps is too short to split into train/validation/test")
    return (
        values[: n - n_val - n_test],
        values[n - n_val - n_test : n - n_test],
        values[n - n_test :],
    )


def make_windows(
    values: np.ndarray, lookback: int, horizon: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a series into (input window, target) pairs for supervised forecasting.

    ``x[i] = values[i : i + lookback]`` and ``y[i] = values[i + lookback + horizon - 1]``:
    from ``lookback`` past steps, predict the value ``horizon`` steps after the window.

    Returns:
        ``x`` of shape ``(N, lookback, 1)`` (batch, time, features: what Conv1D and RNN layers
        take) and ``y`` of shape ``(N,)``, with ``N = len(values) - lookback - horizon + 1``.

    >>> x, y = make_windows(np.arange(6.0), lookback=3)
    >>> x[:, :, 0].tolist(), y.tolist()
    ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]], [3.0, 4.0, 5.0])
    """
    check_count("lookback", lookback)
    check_count("horizon", horizon)
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 1:
        raise ValueError(f"make_windows wants a 1-D series, got shape {values.shape}")
    n = len(values) - lookback - horizon + 1
    if n < 1:
        raise ValueError(
            f"a series of {len(values)} steps has no window of lookback={lookback} plus "
            f"horizon={horizon}; "
            "use a shorter lookback or a longer series"
        )
    x = np.lib.stride_tricks.sliding_window_view(values, lookback)[:n]
    return x[..., None].copy(), values[lookback + horizon - 1 :][:n].copy()


# --------------------------------------------------------------------------- synthetic task


def adding_problem(n: int, length: int, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem (Hochreiter & Schmidhuber, 1997; as in Le, Jaitly & Hinton, 2015).

    Each sequence has two channels: random numbers in [0, 1), and a marker that is 1 at exactly
    two steps (one in the first half, one in the second half) and 0 elsewhere. The target is the
    sum of the two marked numbers, so a model must carry the first one across about
    ``length / 2`` steps. Always predicting 1.0 gives a mean squared error of about 1/6 (the
    variance of a sum of two uniform numbers): the bar a model must beat.

    Returns:
        ``x`` float32 ``(n, length, 2)`` and ``y`` float32 ``(n,)``.
    """
    check_count("n", n)
    check_count("length", length)
    if length < 2:
        raise ValueError(f"length must be at least 2 (one marker in each half), got {length}")
    rng = np.random.default_rng(seed)
    numbers = rng.random((n, length), dtype=np.float32)
    half = length // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, length, size=n)
    markers = np.zeros((n, length), dtype=np.float32)
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = numbers[rows, first] + numbers[rows, second]
    return np.stack([numbers, markers], axis=-1), y.astype(np.float32)
