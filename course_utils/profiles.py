"""Run profiles: how big a run is.

``full`` is what learners run (all the data, all the epochs the text promises).
``fast`` is what CI runs (``COURSE_PROFILE=fast``): the same code on fewer samples and
epochs, so every notebook finishes in seconds to a few minutes on a 2-core machine.

A notebook asks the profile for numbers instead of branching on it::

    profile = course_utils.setup()
    epochs = profile.epochs(full=15)            # 15 for learners, 2 in CI
    n_train = profile.samples(full=None, fast=2000)  # None means "all of it"
    model.fit(..., verbose=profile.verbose)     # one line per epoch for learners, quiet in CI
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

from .loading import check_count

PROFILE_ENV = "COURSE_PROFILE"
PROFILES = ("full", "fast")
DEFAULT_PROFILE = "full"
#: Epochs the fast profile uses when a notebook gives no ``fast=`` value.
FAST_DEFAULT_EPOCHS = 2

T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """The size of a run; see the module docstring."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in PROFILES:
            raise ValueError(
                f"Unknown run profile {self.name!r}. Use one of {', '.join(PROFILES)} "
                f"(set the environment variable {PROFILE_ENV}, e.g. {PROFILE_ENV}=fast)."
            )

    @property
    def is_fast(self) -> bool:
        return self.name == "fast"

    @property
    def verbose(self) -> int:
        """Keras ``verbose`` for training: 2 (one line per epoch, with its time) for learners,
        0 (quiet) in CI. Pass it on: ``model.fit(..., verbose=profile.verbose)``."""
        return 0 if self.is_fast else 2

    def pick(self, full: T, fast: T) -> T:
        """Return ``full`` or ``fast`` depending on the profile (any kind of value)."""
        return fast if self.is_fast else full

    def epochs(self, full: int, fast: int | None = None) -> int:
        """Epochs to train: ``full`` for learners; ``fast`` (default ``min(full, 2)``) in CI."""
        full = check_count("full", full)
        fast = check_count("fast", fast, allow_none=True)
        if not self.is_fast:
            return full
        return fast if fast is not None else min(full, FAST_DEFAULT_EPOCHS)

    def samples(self, full: int | None, fast: int) -> int | None:
        """How many samples to use: ``full`` (``None`` = all) for learners, ``fast`` in CI."""
        full = check_count("full", full, allow_none=True)
        fast = check_count("fast", fast)
        if not self.is_fast:
            return full
        return fast if full is None else min(full, fast)

    def describe(self) -> str:
        if self.is_fast:
            return (
                "fast: small samples and few epochs (CI); "
                "numbers are NOT the ones the text discusses"
            )
        return "full: all the data and epochs the text discusses (what learners run)"


def get_profile(name: str | None = None) -> Profile:
    """The profile called ``name``, else the one ``COURSE_PROFILE`` names, else ``full``."""
    if name is None:
        name = os.environ.get(PROFILE_ENV, "").strip().lower() or DEFAULT_PROFILE
    return Profile(name)
