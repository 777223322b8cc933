import numpy as np
import pytest

from course_utils.profiles import FAST_DEFAULT_EPOCHS, Profile, get_profile


def test_default_profile_is_full(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    assert get_profile().name == "full"


@pytest.mark.parametrize("value", ["fast", "FAST", " fast "])
def test_environment_selects_fast(monkeypatch, value):
    monkeypatch.setenv("COURSE_PROFILE", value)
    assert get_profile().is_fast


def test_explicit_name_beats_environment(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    assert get_profile("full").name == "full"


def test_unknown_profile_says_what_to_set(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    with pytest.raises(ValueError, match="COURSE_PROFILE"):
        get_profile()


def test_epochs():
    full, fast = Profile("full"), Profile("fast")
    assert full.epochs(full=15) == 15
    assert fast.epochs(full=15) == FAST_DEFAULT_EPOCHS == 2  # the number the docstring promises
    assert fast.epochs(full=15, fast=3) == 3
    assert fast.epochs(full=1) == 1
    assert full.epochs(full=15, fast=3) == 15


def test_samples():
    full, fast = Profile("full"), Profile("fast")
    assert full.samples(full=None, fast=2000) is None
    assert fast.samples(full=None, fast=2000) == 2000
    assert fast.samples(full=500, fast=2000) == 500
    assert full.samples(full=500, fast=2000) == 500


def test_pick():
    assert Profile("full").pick(full="a", fast="b") == "a"
    assert Profile("fast").pick(full="a", fast="b") == "b"


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True, None])
def test_epochs_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="positive integer"):
        Profile("full").epochs(full=bad)


@pytest.mark.parametrize("bad", [0, -5, 1.5])
def test_samples_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="positive integer"):
        Profile("fast").samples(full=None, fast=bad)


def test_describe_names_the_profile():
    assert Profile("fast").describe().startswith("fast")
    assert Profile("full").describe().startswith("full")


def test_numpy_integers_count_like_python_ints():
    """Sizes often come out of NumPy (len of an array is an int, but .shape math gives np.int64)."""
    fast = Profile("fast")
    assert fast.epochs(full=np.int64(5)) == FAST_DEFAULT_EPOCHS
    assert Profile("full").epochs(full=np.int64(5)) == 5
    assert type(Profile("full").epochs(full=np.int64(5))) is int
    assert fast.samples(full=np.int32(300), fast=np.int64(2000)) == 300
    with pytest.raises(ValueError, match="positive integer"):
        fast.epochs(full=np.int64(0))


def test_verbose_prints_epochs_for_learners_and_is_quiet_in_ci():
    assert Profile("full").verbose == 2
    assert Profile("fast").verbose == 0
