"""Sequence data: MNIST-1D, the packaged time series, windows, the adding problem."""

import random

import numpy as np
import pytest

import course_utils
from course_utils import sequences
from course_utils.sequences import adding_problem, chronological_split, make_windows


# ------------------------------------------------------------------ MNIST-1D
def test_mnist1d_is_the_published_split(capsys):
    (x, y), (xt, yt), info = course_utils.load_mnist1d(with_info=True)
    assert x.shape == (4000, 40) and xt.shape == (1000, 40)
    assert x.dtype == np.float32 and y.dtype == np.uint8
    assert set(np.unique(y)) == set(range(10)) and set(np.unique(yt)) == set(range(10))
    # standardised over the whole dataset, as the package publishes it
    both = np.concatenate([x, xt])
    assert abs(float(both.mean())) < 1e-3 and abs(float(both.std()) - 1) < 1e-3
    assert info.name == "mnist1d" and not info.offline
    out = capsys.readouterr().out
    assert "generated locally" in out and "4,000 train / 1,000 test sequences" in out


def test_mnist1d_matches_the_package_itself():
    from mnist1d.data import get_dataset_args, make_dataset

    theirs = make_dataset(get_dataset_args())
    (x, y), _ = course_utils.load_mnist1d()
    # the loader shuffles its copy (stratified_subset); compare as sets of rows
    order, their_order = np.lexsort(x.T[::-1]), np.lexsort(theirs["x"].T[::-1])
    np.testing.assert_allclose(x[order], theirs["x"][their_order], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(y[order], theirs["y"][their_order])


def test_mnist1d_shuffled_is_the_same_samples_with_permuted_time_steps():
    (x, y), _ = sequences._mnist1d_arrays(False)
    (xs, ys), _ = sequences._mnist1d_arrays(True)
    np.testing.assert_array_equal(y, ys)
    assert not np.allclose(x, xs)
    # one fixed permutation of the 40 columns maps one onto the other
    perm = [int(np.argmin(np.abs(x[:50] - xs[:50, [j]]).sum(axis=0))) for j in range(40)]
    assert sorted(perm) == list(range(40))
    np.testing.assert_allclose(x[:, perm], xs, atol=1e-6)


def test_mnist1d_leaves_the_global_generators_alone():
    course_utils.load_mnist1d(n_train=20, n_test=10)  # first imports (scikit-learn's use `random`)
    sequences._mnist1d_arrays.cache_clear()  # so that mnist1d really generates (and reseeds) again
    random.seed(7)
    np.random.seed(7)
    expected = (random.random(), np.random.rand())
    random.seed(7)
    np.random.seed(7)
    course_utils.load_mnist1d(n_train=20, n_test=10)
    assert (random.random(), np.random.rand()) == expected


def test_mnist1d_copies_are_independent_and_subsets_stratified():
    (x1, y1), (t1, u1) = course_utils.load_mnist1d(n_train=200, n_test=100)
    assert np.abs(np.bincount(y1) - 20).max() <= 1 and np.abs(np.bincount(u1) - 10).max() <= 1
    x1[:] = 0
    (x2, _), _ = course_utils.load_mnist1d(n_train=200, n_test=100)
    assert np.abs(x2).max() > 0


def test_mnist1d_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n must be a positive integer"):
        course_utils.load_mnist1d(n_train=0)


# ------------------------------------------------------------------ time series
@pytest.mark.parametrize(
    "name, length, frequency, season",
    [
        ("co2", 2284, "weekly", 52),
        ("sunspots", 309, "yearly", 11),
        ("seattle_temps", 8759, "hourly", 24),
        ("seattle_weather", 1461, "daily", 365),
    ],
)
def test_timeseries(name, length, frequency, season, capsys):
    ts = course_utils.load_timeseries(name)
    assert len(ts) == length == len(ts.dates)
    assert ts.values.dtype == np.float32 and np.isfinite(ts.values).all()
    assert (ts.frequency, ts.season) == (frequency, season)
    assert np.all(np.diff(ts.dates) > np.timedelta64(0, "s")), "dates must increase"
    assert name in capsys.readouterr().out and ts.source and ts.license


def test_timeseries_values_are_the_real_ones():
    co2 = course_utils.load_timeseries("co2")
    assert co2.values[0] == pytest.approx(316.1) and "59 missing weeks" in co2.notes
    assert 310 < co2.values.min() < co2.values.max() < 380
    temps = course_utils.load_timeseries("seattle_temps")
    assert temps.values[0] == pytest.approx((39.4 - 32) * 5 / 9, abs=1e-4)  # 39.4 °F
    sun = course_utils.load_timeseries("sunspots")
    assert sun.values[0] == 5.0 and str(sun.dates[0])[:4] == "1700"


def test_unknown_timeseries_lists_the_choices():
    with pytest.raises(ValueError, match="Available: co2, "):
        course_utils.load_timeseries("stock_prices")


def test_sequence_datasets_by_name():
    assert {"mnist1d", "co2", "seattle_temps"} <= set(course_utils.available_datasets())
    assert course_utils.load_dataset("sunspots").name == "sunspots"
    (x, _), _ = course_utils.load_dataset("mnist1d", n_train=30, n_test=10)
    assert x.shape == (30, 40)


# ------------------------------------------------------------------ splits and windows
def test_chronological_split_keeps_time_order():
    train, val, test = chronological_split(np.arange(100), 0.15, 0.15)
    assert (len(train), len(val), len(test)) == (70, 15, 15)
    np.testing.assert_array_equal(np.concatenate([train, val, test]), np.arange(100))


@pytest.mark.parametrize("val, test", [(0, 0.1), (0.1, 1.0), (0.6, 0.5), (-0.1, 0.2)])
def test_chronological_split_rejects_bad_fractions(val, test):
    with pytest.raises(ValueError):
        chronological_split(np.arange(100), val, test)


def test_chronological_split_too_short():
    with pytest.raises(ValueError, match="too short"):
        chronological_split(np.arange(4), 0.1, 0.1)


def test_windows_and_targets_line_up():
    series = np.arange(100, dtype=np.float32)
    x, y = make_windows(series, lookback=48, horizon=24)
    assert x.shape == (100 - 48 - 24 + 1, 48, 1) and y.shape == (29,)
    np.testing.assert_array_equal(x[:, :, 0], [series[i : i + 48] for i in range(29)])
    np.testing.assert_array_equal(y, series[48 + 23 :])
    # with horizon == 24, "the same hour one day earlier" is the window's last value
    np.testing.assert_array_equal(y - 24, x[:, -1, 0])
    x[0, 0, 0] = -1  # a copy, not a view of the series
    assert series[0] == 0


@pytest.mark.parametrize(
    "values, lookback, horizon, message",
    [
        (np.arange(10.0), 0, 1, "lookback"),
        (np.arange(10.0), 3, 0, "horizon"),
        (np.arange(10.0), 8, 3, "no window"),
        (np.zeros((5, 2)), 2, 1, "1-D"),
    ],
)
def test_windows_reject_bad_input(values, lookback, horizon, message):
    with pytest.raises(ValueError, match=message):
        make_windows(values, lookback, horizon)


# ------------------------------------------------------------------ adding problem
def test_adding_problem_definition():
    x, y = adding_problem(500, 30, seed=1)
    assert x.shape == (500, 30, 2) and y.shape == (500,) and x.dtype == y.dtype == np.float32
    markers = x[..., 1]
    assert np.all(markers.sum(axis=1) == 2)
    assert np.all(markers[:, :15].sum(axis=1) == 1) and np.all(markers[:, 15:].sum(axis=1) == 1)
    np.testing.assert_allclose(y, (x[..., 0] * markers).sum(axis=1), rtol=1e-6)
    # the constant prediction 1.0 scores about the variance of a sum of two uniforms, 1/6
    assert abs(float(np.mean((y - 1.0) ** 2)) - 1 / 6) < 0.03
    np.testing.assert_array_equal(adding_problem(500, 30, seed=1)[0], x)


@pytest.mark.parametrize("n, length", [(0, 10), (10, 1), (10, 2.5)])
def test_adding_problem_rejects_bad_sizes(n, length):
    with pytest.raises(ValueError):
        adding_problem(n, length)
