"""Execute each notebook in a profile and print how long it takes (a benchmark, not a test).

    .venv/bin/python benchmarks/notebook_times.py --profile fast
    .venv/bin/python benchmarks/notebook_times.py --profile full notebooks/01_*.ipynb \
        --save-dir /tmp/executed

Runs notebooks one after another in fresh kernels (the same way nbval does), offline by
default (COURSE_OFFLINE=1; pass --online to let loaders try the network). Prints a Markdown table
for docs/PERFORMANCE.md. With --save-dir, writes each executed notebook there so its printed
results (accuracies, tables) can be copied into the docs; the notebooks in notebooks/ are never
modified.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent


def run(path: Path, timeout: int) -> tuple[float, nbformat.NotebookNode, str]:
    nb = nbformat.read(path, as_version=4)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--profile", choices=("fast", "full"), default="fast")
    parser.add_argument("--online", action="store_true", help="let loaders try the network")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument("--save-dir", type=Path, help="write executed notebooks here")
    args = parser.parse_args()
    os.environ["COURSE_PROFILE"] = args.profile
    if not args.online:
        os.environ["COURSE_OFFLINE"] = "1"
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if args.save_dir:
        args.save_dir.mkdir(parents=True, exist_ok=True)
    import keras

    print(
        f"profile={args.profile} offline={not args.online} backend={keras.backend.backend()} "
        f"python={platform.python_version()} cpus={os.cpu_count()}"
    )
    print("\n| notebook | seconds | status |\n|---|---:|---|")
    total, failed = 0.0, 0
    for path in paths:
        seconds, nb, status = run(path, args.timeout)
        total += seconds
        failed += status != "ok"
        print(f"| {path.name} | {seconds:.1f} | {status} |", flush=True)
        if args.save_dir:
            nbformat.write(nb, args.save_dir / path.name)
    print(f"| **total** | **{total:.1f}** | {len(paths) - failed} ok, {failed} failed |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
