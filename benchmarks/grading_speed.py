"""How fast `python -m course_utils.grading grade` is (a benchmark, not a test).

    .venv/bin/python benchmarks/grading_speed.py                 # 100 NumPy-level submissions, -j 2
    .venv/bin/python benchmarks/grading_speed.py -n 200 -j 4
    .venv/bin/python benchmarks/grading_speed.py --keras 30      # also a class of 30 on notebook 02
    .venv/bin/python benchmarks/grading_speed.py --isolation off # without the bubblewrap sandbox

Makes synthetic submissions of the NumPy-level test assignment
(tests/grading_fixtures/numpy_assignment.ipynb): mostly correct, some wrong, some blank, a few
that raise. Times the real command line (a fresh output folder, so nothing is cached), then
runs it again to time the cached re-run. With --keras N it grades a class of N submissions of
notebook 02 (Keras, TensorFlow backend) with the same mix. Isolation is required by default
(bubblewrap; --isolation off or auto to compare). Prints a Markdown table for docs/GRADING.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.grading.assignment import load_assignment, nbgrader_role  # noqa: E402
from course_utils.grading.release import instructor_answers  # noqa: E402

FIXTURE = ROOT / "tests" / "grading_fixtures" / "numpy_assignment.ipynb"
VARIANTS = {
    "wrong": {"ex2-solution": "def normalize(v):\n    return v"},
    "raises": {"ex1-solution": "def column_means(x):\n    raise ValueError('not yet')"},
    "blank": None,
}


def write_submissions(notebook: Path, folder: Path, count: int, mix: bool) -> None:
    assignment = load_assignment(notebook)
    reference = instructor_answers(assignment)
    for number in range(count):
        kind = (
            ("correct", "correct", "correct", "wrong", "raises", "blank")[number % 6]
            if mix
            else "correct"
        )
        nb = nbformat.from_dict(json.loads(json.dumps(assignment.released)))
        answers = {} if kind == "blank" else {**reference, **(VARIANTS.get(kind) or {})}
        for cell in nb.cells:
            if nbgrader_role(cell) == "solution":
                cell.source = answers.get(cell.metadata["nbgrader"]["grade_id"], cell.source)
        nbformat.write(nb, folder / f"student{number:03d}.ipynb")


def grade(notebook: Path, folder: Path, out: Path, jobs: int, isolation: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "course_utils.grading",
            "grade",
            str(folder),
            "--assignment",
            str(notebook),
            "-j",
            str(jobs),
            "--out",
            str(out),
            "--isolation",
            isolation,
        ],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def measure(
    label: str, notebook: Path, count: int, jobs: int, mix: bool, isolation: str
) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "submissions", Path(tmp) / "grades"
        folder.mkdir()
        write_submissions(notebook, folder, count, mix)
        first = grade(notebook, folder, out, jobs, isolation)
        again = grade(notebook, folder, out, jobs, isolation)
        results = [json.loads(p.read_text()) for p in (out / "results").glob("*.json")]
        per = sorted(r["seconds"] for r in results)
        peak = max(r["peak_memory_mb"] for r in results)
        scores: dict[str, int] = {}
        for r in results:
            key = f"{r['score']:g}/{r['max_score']:g}"
            scores[key] = scores.get(key, 0) + 1
        isolated = sum(r["isolation"].startswith("bubblewrap") for r in results)
    return [
        f"| {label} | {count} | {jobs} | {first:.1f} | {first / count:.2f} | "
        f"{per[len(per) // 2]:.1f} | {again:.1f} | {peak:.0f} | {isolated}/{count} | "
        f"{dict(sorted(scores.items()))} |"
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100, help="NumPy-level submissions (default 100)")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument(
        "--keras", type=int, default=0, help="also grade this many submissions of notebook 02"
    )
    parser.add_argument("--isolation", choices=("auto", "required", "off"), default="required")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {load:.1f} at start"
    )
    print(
        "\n| assignment | submissions | -j | wall (s) | wall per submission (s) | median worker "
        "(s) | cached re-run (s) | peak resident (MB) | isolated | scores |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for line in measure("NumPy fixture", FIXTURE, args.n, args.jobs, True, args.isolation):
        print(line, flush=True)
    if args.keras:
        notebook = ROOT / "notebooks" / "02_functional_api.ipynb"
        for line in measure(
            "02_functional_api (Keras)", notebook, args.keras, args.jobs, True, args.isolation
        ):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
