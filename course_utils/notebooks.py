"""Maintainers' tools for the course notebooks (not used inside them).

    python -m course_utils.notebooks check  notebooks/*.ipynb   # exit 1 if outputs are stored
    python -m course_utils.notebooks clean  notebooks/*.ipynb   # strip outputs, keep checked cells
    python -m course_utils.notebooks refresh notebooks/05_*.ipynb  # re-record checked outputs

Notebooks are stored without outputs, except code cells that carry the nbval marker
``# NBVAL_CHECK_OUTPUT``: their stored output is what ``pytest --nbval-lax`` compares a fresh
run against, so it must be recorded (``refresh`` runs the notebook in the fast profile and
keeps exactly those outputs).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import nbformat

from .cache import atomic_write

CHECK_MARKER = "NBVAL_CHECK_OUTPUT"
#: Metadata keys that editors add and that only make diffs noisy.
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")


def is_checked(cell: nbformat.NotebookNode) -> bool:
    """Does nbval compare this cell's output (``# NBVAL_CHECK_OUTPUT`` in its source)?"""
    return cell.cell_type == "code" and CHECK_MARKER in cell.source


def read(path: str | os.PathLike[str]) -> nbformat.NotebookNode:
    """Read and validate a notebook; a clear error names the file when it is not one."""
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:
        raise ValueError(
            f"{path} is not a valid Jupyter notebook: {type(exc).__name__}: {str(exc)[:200]}"
        ) from exc
    return nb


def stored_output_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Cells that store outputs or execution counts they should not (empty when clean)."""
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs") and not is_checked(cell):
            problems.append(f"cell {index} stores outputs but is not marked # {CHECK_MARKER}")
        if is_checked(cell) and not cell.get("outputs"):
            problems.append(
                f"cell {index} is marked # {CHECK_MARKER} but stores no output to compare with"
            )
        if cell.get("execution_count") is not None and not is_checked(cell):
            problems.append(f"cell {index} stores an execution count")
    return problems


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip outputs and execution counts, except the outputs of checked cells."""
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        if not is_checked(cell):
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    return nb


def refresh(path: Path, timeout: int = 1200) -> nbformat.NotebookNode:
    """Execute a notebook (fast profile, offline) and keep only the checked cells' outputs."""
    from nbclient import NotebookClient

    nb = read(path)
    os.environ.setdefault("COURSE_PROFILE", "fast")
    os.environ.setdefault("COURSE_OFFLINE", "1")
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return clean(nb)


def _write_if_changed(path: Path, nb: nbformat.NotebookNode) -> bool:
    text = nbformat.writes(nb) + "\n"
    if path.read_text(encoding="utf-8") == text:
        return False
    atomic_write(path, text)  # an interrupted run never leaves half a notebook
    return True


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.notebooks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=("check", "clean", "refresh"))
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(list(argv) if argv is not None else None)
    status = 0
    for path in args.paths:
        try:
            nb = refresh(path) if args.command == "refresh" else read(path)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            status = 1
            continue
        if args.command == "check":
            for problem in stored_output_problems(nb):
                print(f"{path}: {problem}")
                status = 1
        else:
            changed = _write_if_changed(path, clean(nb))
            print(f"{path}: {'updated' if changed else 'already clean'}")
    if args.command == "check" and status:
        print(
            "Fix with: python -m course_utils.notebooks clean <notebooks> "
            "(and refresh for checked cells)",
            file=sys.stderr,
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
