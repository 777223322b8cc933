"""Shared test settings: unit tests never touch the network and draw with a file backend.

Also two suite-level hooks:

* scheduling for ``pytest -n 2 --dist loadscope`` (what ``make test`` runs): every notebook is one
  unit of work (its cells share one kernel), every other test file is one unit, and the long
  units go first, so the two workers finish at about the same time;
* the collection check: when the run covers the notebooks folder, every course notebook must have
  been collected (executed by nbval), or the session fails before running anything.
"""

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
    config.addinivalue_line(
        "markers", "slow: the slower tier (`make test-slow`); `make test` deselects it"
    )
    config.addinivalue_line(
        "markers",
        "release_score: a course notebook graded in the grader (`make test` uses recorded "
        "verdicts, `make test-slow` re-grades)",
    )


# --------------------------------------------------------------------------- collection check


def _covers_notebooks(config: pytest.Config) -> bool:
    """Did this run ask for the notebooks folder (explicitly, or through the default testpaths)?"""
    folder = (ROOT / "notebooks").resolve()
    args = [a.split("::")[0] for a in config.args] or ["."]
    for arg in args:
        path = (Path(config.invocation_params.dir) / arg).resolve()
        if path == folder or folder.is_relative_to(path):
            return True
    return False


def _notebook_of(item: pytest.Item) -> Path | None:
    path = Path(str(item.path)).resolve()
    return path if path.suffix == ".ipynb" and path.parent == (ROOT / "notebooks") else None


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselect anything
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if _covers_notebooks(config):
        collected = {nb for nb in map(_notebook_of, items) if nb is not None}
        missing = [p.name for p in NOTEBOOKS if p.resolve() not in collected]
        if missing:
            raise pytest.UsageError(
                f"these course notebooks were not collected, so nbval would not execute them: "
                f"{missing}. pyproject.toml's addopts must keep --nbval-lax and testpaths must "
                "include notebooks/"
            )

    # Long units first (longest-processing-time-first keeps the two workers evenly loaded):
    # notebooks by size (a fair proxy for their run time), then the course release checks, then
    # the unit tests in their usual order. The sort is stable and the same in every worker.
    def weight(item: pytest.Item) -> tuple[int, int]:
        notebook = _notebook_of(item)
        if notebook is not None:
            return (0, -notebook.stat().st_size)
        if Path(str(item.path)).name == "test_course_release.py":
            return (1, 0)
        return (2, 0)

    items.sort(key=weight)


# --------------------------------------------------------------------------- xdist scheduling


def _scope_of(nodeid: str) -> str:
    """The unit of work a test belongs to: one notebook, one release check, or one test file."""
    path, _, rest = nodeid.partition("::")
    if path.endswith("test_course_release.py"):
        return nodeid  # each notebook's release check is a unit of its own
    return path


@pytest.hookimpl(optionalhook=True)  # xdist's hook; absent with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # type: ignore[no-untyped-def]
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class CourseScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope_of(nodeid)

    config.option.loadscopereorder = False  # keep the long-first order set above
    return CourseScheduling(config, log)
