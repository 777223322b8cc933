"""Shared test settings: unit tests never touch the network and draw with a file backend."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the offline data sources (no network probe)."""
    monkeypatch.setenv("COURSE_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _matplotlib_agg() -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
