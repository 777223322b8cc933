"""The learner's own copies of the student notebooks; the student zip (Colab, no git).

    python -m course_utils.workspace sync      # copy new release notebooks into workspace/
    python -m course_utils.workspace status    # unchanged / edited by you / new release available
    python -m course_utils.workspace reset 06  # back up your 06 and take a fresh copy
    python -m course_utils.workspace student-zip --out build/cnn-rnn-course-student.zip

``make lab`` runs ``sync`` and opens JupyterLab on ``workspace/`` (git-ignored). The rules:

* A release notebook missing from the workspace is copied there.
* The workspace keeps a manifest (``.course-manifest.json``: the SHA-256 of each release notebook
  as it was copied). A workspace notebook whose bytes still equal that copy was not touched by the
  learner: when the release changes, it is replaced by the new release silently.
* A notebook the learner changed is never touched. When its release changed, ``sync`` says so and
  prints the command that takes a fresh copy (``reset``, which first moves the learner's file to
  ``backups/``, never overwriting an earlier backup).
* The instructor notebooks, which are the worked solutions and hold the hidden tests, are copied
  read-only into ``workspace/solutions/`` as ``NN_x.SOLUTIONS.ipynb`` and refreshed on every
  ``sync``. They sit inside JupyterLab's folder on purpose (the course hands them out as solutions;
  the instructor notebooks are in the repository anyway), in their own folder, under a name that
  says what they are, and read-only, so nobody does their work in them by mistake. A folder
  without ``notebooks/`` (the student zip) gets no solutions.
* The course glossary (``GLOSSARY.md``, generated from the notebooks, which link it) is course
  material too: copied read-only next to the notebooks (and the solutions) on every ``sync``.

Notebooks find their data through ``course_utils`` (:func:`course_utils.cache.data_dir` is the
``data/`` folder next to the package, not the working directory), so they run from
``workspace/`` as from ``notebooks/``.

Every file is written with :func:`course_utils.cache.atomic_write`. Exit status: 0 done, 2 a
mistake on the command line or a notebook name that matches no course notebook, or several.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .cache import atomic_write, file_digest, sha256_hex
from .glossary import FILE_NAME as GLOSSARY

#: The repository (or the unpacked student zip) this package lives in.
REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORKSPACE = REPO / "workspace"
DEFAULT_RELEASE = REPO / "release"
DEFAULT_SOLUTIONS = REPO / "notebooks"
MANIFEST = ".course-manifest.json"
SOLUTIONS_DIR = "solutions"
SOLUTION_SUFFIX = ".SOLUTIONS.ipynb"
BACKUPS_DIR = "backups"
STUDENT_ZIP = "cnn-rnn-course-student.zip"

SOLUTIONS_README = """\
# Worked solutions

These are the instructor notebooks: the worked solutions, with the hidden tests the grader runs.
They are read-only copies, refreshed every time `make lab` starts. Do your own work in the
notebooks one folder up (`../NN_x.ipynb`); the course never overwrites those.
"""

#: Files of the repository the student zip carries (besides release/, course_utils/, data/).
ZIP_ROOT_FILES = (
    "pyproject.toml",
    "requirements.txt",
    "requirements-jax.txt",
    "requirements-torch.txt",
    "Makefile",
    "README.md",
)

README_COLAB = """\
# CNNs and RNNs with Keras: student copy

This zip holds the student notebooks (`release/`), the course's helper package (`course_utils/`),
its data folder (`data/`), `pyproject.toml`, the pinned `requirements*.txt` and the `Makefile`.
It holds no solutions.

## On your own machine

You need `make` and Python 3.10-3.13. Unpack the zip, `cd` into the folder and run `make lab`:
it installs the pinned packages into `.venv` (first run only, about 2.8 GB), copies the notebooks
into `workspace/` (your own copies; the course never overwrites them) and opens JupyterLab there.
`make reset NB=06` takes a fresh copy of notebook 06 and keeps yours in `workspace/backups/`.

## On Google Colab

1. Open a notebook: *File -> Upload notebook*, and pick `release/NN_x.ipynb` from the unpacked zip
   on your computer (or put the notebooks on your Google Drive and open them from there).
2. Upload `cnn-rnn-course-student.zip` itself into the runtime: the *Files* panel on the left,
   *Upload* (it lands in `/content`).
3. Run this as the notebook's first cell, once per runtime (every notebook opened in Colab gets
   its own runtime, and the runtime's files are gone when it stops):

```python
!unzip -q -o /content/cnn-rnn-course-student.zip -d /content/course
!pip install -q -e /content/course
import sys; sys.path.insert(0, "/content/course")  # use course_utils without restarting the runtime
```

`pip install -e` installs `course_utils` and only the packages Colab lacks (the ranges in
`pyproject.toml` are loose; TensorFlow is not among them, so Colab's TensorFlow, Keras 3 and CUDA
stay as they are). The notebooks need, beyond Colab's usual stack (NumPy, pandas, Matplotlib,
scikit-learn, scikit-image, statsmodels), `mnist1d`, `vega_datasets` and `mlxtend`; pip adds
whichever is missing. Do not install `requirements.txt` on Colab: it pins TensorFlow and the rest
for a local `.venv`, and pip would replace Colab's TensorFlow. `-e` (editable) matters: the
notebooks find `data/` next to `course_utils/`. Choose *Runtime -> Change runtime type -> GPU*
for the larger models. Save your work with *File -> Save a copy in Drive* or *Download*.

What was checked: the course's tests build this zip, unpack it and import `course_utils` from the
unpacked copy (no network). Colab itself was not tested.
"""


class WorkspaceError(Exception):
    """A mistake the learner can fix (unknown notebook name, missing folder); exit status 2."""


# --------------------------------------------------------------------------- notebooks and manifest


def release_notebooks(release: Path) -> list[str]:
    """File names of the release notebooks, sorted."""
    if not release.is_dir():
        raise WorkspaceError(
            f"{release} is not a folder of release notebooks. From the course's repository run "
            f"`python -m course_utils.grading release`, or pass --release DIR."
        )
    return sorted(p.name for p in release.glob("*.ipynb") if p.is_file())


def _is_default(directory: Path, default: Path) -> bool:
    return Path(directory).resolve() == default.resolve()


def read_manifest(directory: Path) -> dict[str, str]:
    """``{notebook file name: SHA-256 of the release notebook as copied}``; empty if none."""
    path = Path(directory) / MANIFEST
    if not path.exists():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8")).get("copied_from_release", {})
    except (ValueError, AttributeError):
        print(
            f"warning: {path} is not readable JSON; treating every notebook that differs from the "
            f"release as edited by you (nothing is overwritten).",
            file=sys.stderr,
        )
        return {}
    return {str(k): str(v) for k, v in entries.items()} if isinstance(entries, dict) else {}


def write_manifest(directory: Path, entries: dict[str, str]) -> None:
    """Write the manifest atomically (sorted keys, so the bytes depend only on the entries)."""
    content = {
        "about": (
            "SHA-256 of each release notebook as copied here by `python -m course_utils.workspace "
            "sync`; a notebook whose SHA-256 differs was edited by you and is never overwritten."
        ),
        "copied_from_release": dict(sorted(entries.items())),
    }
    atomic_write(Path(directory) / MANIFEST, json.dumps(content, indent=1) + "\n")


def short_name(name: str, names: Iterable[str]) -> str:
    """The shortest NB that :func:`resolve_notebook` maps to ``name``: ``06`` when unique."""
    stem = name.removesuffix(".ipynb")
    prefix = stem.split("_", 1)[0]
    matches = [n for n in names if n.removesuffix(".ipynb").split("_", 1)[0] == prefix]
    return prefix if matches == [name] else stem


def reset_command(
    name: str, directory: Path, release: Path, names: Iterable[str] | None = None
) -> str:
    """The exact command that takes a fresh copy of ``name`` into ``directory``."""
    names = list(names) if names is not None else release_notebooks(release)
    nb = short_name(name, names)
    if _is_default(directory, DEFAULT_WORKSPACE) and _is_default(release, DEFAULT_RELEASE):
        return f"make reset NB={nb}"
    command = f"python -m course_utils.workspace reset {nb} --dir {directory}"
    if not _is_default(release, DEFAULT_RELEASE):
        command += f" --release {release}"
    return command


def resolve_notebook(nb: str, names: list[str]) -> str:
    """Map ``06``, ``6``, ``06_mnist_shootout``, ``06_mnist_shootout.ipynb`` or a path to a name.

    Raises:
        WorkspaceError: no course notebook matches, or several do; the message lists them.
    """
    key = Path(nb.strip()).name.removesuffix(".ipynb").removesuffix(".SOLUTIONS")
    if key.isdigit():
        key = key.zfill(2)
    stems = {n.removesuffix(".ipynb"): n for n in names}
    if key in stems:
        return stems[key]
    matches = [n for s, n in stems.items() if s.startswith(key + "_")] or [
        n for s, n in stems.items() if key and s.startswith(key)
    ]
    if len(matches) == 1:
        return matches[0]
    listing = ", ".join(n.removesuffix(".ipynb") for n in (matches or names))
    if matches:
        raise WorkspaceError(
            f"{nb!r} matches several notebooks: {listing}. Name one of them in full, "
            f"e.g. NB={matches[0].removesuffix('.ipynb')}."
        )
    raise WorkspaceError(
        f"No course notebook matches {nb!r}. Name one of: {listing} "
        f"(the number is enough, e.g. NB=06)."
    )


# --------------------------------------------------------------------------- sync

#: What a workspace notebook is, next to its release (:func:`_state`).
MISSING, UNCHANGED, BEHIND, EDITED, EDITED_BEHIND = (
    "missing",
    "unchanged",
    "behind",
    "edited",
    "edited-behind",
)


def _state(target: Path, current: str, copied: str | None) -> str:
    """Where the learner's ``target`` stands; ``current``: the release's SHA-256 now, ``copied``:
    the manifest's (the release as last copied, None if unknown).

    ``MISSING``; ``UNCHANGED`` (same bytes as the release); ``BEHIND`` (still the copy the course
    made, and the release moved on: safe to update); ``EDITED`` (the learner's own);
    ``EDITED_BEHIND`` (the learner's own, and the release changed since it was copied).
    """
    if not target.exists():
        return MISSING
    mine = file_digest(target)
    if mine == current:
        return UNCHANGED
    if mine == copied:
        return BEHIND
    return EDITED_BEHIND if copied is not None and copied != current else EDITED


@dataclass
class SyncReport:
    """What :func:`sync` did, by notebook file name."""

    directory: Path
    copied: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    #: Edited by the learner while the release changed: left alone, reported with the command.
    release_changed: list[str] = field(default_factory=list)
    #: Read-only solution copies present after the sync, and how many were (re)written; None: no
    #: instructor notebooks to copy.
    solutions: int | None = None
    solutions_written: int = 0
    messages: list[str] = field(default_factory=list)

    def summary(self) -> str:
        total = len(self.copied) + len(self.updated) + len(self.unchanged) + len(self.edited)
        line = (
            f"Workspace {self.directory}: {total} notebooks ({len(self.copied)} copied, "
            f"{len(self.updated)} updated to the new release, {len(self.unchanged)} unchanged, "
            f"{len(self.edited)} edited by you"
        )
        if self.release_changed:
            line += f", {len(self.release_changed)} of them with a new release (see above)"
        line += "); "
        if self.solutions is None:
            line += "no solutions here."
        else:
            line += (
                f"solutions: {self.solutions} read-only copies in {SOLUTIONS_DIR}/ "
                f"({self.solutions_written} refreshed)."
            )
        return line


def _make_writable(path: Path) -> None:
    if path.exists():
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def _read_only(path: Path) -> None:
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _write_read_only(path: Path, data: bytes) -> bool:
    """Make ``path`` a read-only file holding ``data``; True if it had to be (re)written."""
    if path.is_file() and path.read_bytes() == data:
        if path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            _read_only(path)
        return False
    _make_writable(path)  # os.replace onto a read-only file fails on Windows
    atomic_write(path, data)
    _read_only(path)
    return True


def sync_solutions(directory: Path, solutions: Path) -> tuple[int, int] | None:
    """Refresh ``directory/solutions/`` from the instructor notebooks; (copies, written) or None."""
    if not solutions.is_dir():
        return None
    sources = sorted(p for p in solutions.glob("*.ipynb") if p.is_file())
    if not sources:
        return None
    target = Path(directory) / SOLUTIONS_DIR
    written = 0
    wanted = {p.stem + SOLUTION_SUFFIX: p for p in sources}
    for name, source in wanted.items():
        written += _write_read_only(target / name, source.read_bytes())
    _write_read_only(target / "README.md", SOLUTIONS_README.encode("utf-8"))
    if (solutions / GLOSSARY).is_file():  # the solutions' glossary links point next to them
        _write_read_only(target / GLOSSARY, (solutions / GLOSSARY).read_bytes())
    for stale in target.glob("*" + SOLUTION_SUFFIX):
        if stale.name not in wanted:  # the course dropped or renamed that notebook
            _make_writable(stale)
            stale.unlink()
    return len(wanted), written


def sync(
    directory: Path = DEFAULT_WORKSPACE,
    release: Path = DEFAULT_RELEASE,
    solutions: Path = DEFAULT_SOLUTIONS,
) -> SyncReport:
    """Bring ``directory`` up to date with ``release`` without touching the learner's edits."""
    directory, release, solutions = Path(directory), Path(release), Path(solutions)
    names = release_notebooks(release)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(directory)
    report = SyncReport(directory=directory.resolve())
    for name in names:
        source, target = release / name, directory / name
        data = source.read_bytes()
        current = sha256_hex(data)
        state = _state(target, current, manifest.get(name))
        if state in (MISSING, BEHIND):  # new, or untouched by the learner and the release moved
            atomic_write(target, data)
        if state in (MISSING, BEHIND, UNCHANGED):  # the learner's file is the release's now
            manifest[name] = current
        listed = {
            MISSING: report.copied,
            BEHIND: report.updated,
            UNCHANGED: report.unchanged,
            EDITED: report.edited,
            EDITED_BEHIND: report.edited,
        }
        listed[state].append(name)
        if state == EDITED_BEHIND:
            report.release_changed.append(name)
            report.messages.append(
                f"New release of {name}; your copy has your edits, so it was left as it is. "
                f"For a fresh copy (yours is kept in {BACKUPS_DIR}/): "
                f"{reset_command(name, directory, release, names)}"
            )
    write_manifest(directory, manifest)
    if (release / GLOSSARY).is_file():  # course material, not the learner's: refreshed read-only
        _write_read_only(directory / GLOSSARY, (release / GLOSSARY).read_bytes())
    refreshed = sync_solutions(directory, solutions)
    if refreshed is not None:
        report.solutions, report.solutions_written = refreshed
    return report


# --------------------------------------------------------------------------- status and reset


def status(
    directory: Path = DEFAULT_WORKSPACE, release: Path = DEFAULT_RELEASE
) -> list[tuple[str, str]]:
    """``(notebook, state)`` for each release notebook; reads only, changes nothing."""
    directory, release = Path(directory), Path(release)
    names = release_notebooks(release)
    manifest = read_manifest(directory)
    rows = []
    for name in names:
        state = _state(directory / name, file_digest(release / name), manifest.get(name))
        text = {
            MISSING: "not copied yet (make lab or sync copies it)",
            UNCHANGED: "unchanged",
            BEHIND: "new release available (the next sync takes it: you made no edits)",
            EDITED: "edited by you",
        }.get(state)
        if state == EDITED_BEHIND:
            fresh = reset_command(name, directory, release, names)
            text = f"edited by you; new release available (fresh copy: {fresh})"
        rows.append((name, text))
    return rows


def _backup_path(directory: Path, name: str, now: datetime) -> Path:
    """A backup file name that does not exist yet (``stem.<time>.ipynb``, then ``-2``, ...)."""
    stem = name.removesuffix(".ipynb")
    stamp = now.strftime("%Y-%m-%dT%H-%M-%S")
    folder = Path(directory) / BACKUPS_DIR
    candidate = folder / f"{stem}.{stamp}.ipynb"
    number = 2
    while candidate.exists():
        candidate = folder / f"{stem}.{stamp}-{number}.ipynb"
        number += 1
    return candidate


def _save_backup(directory: Path, name: str, data: bytes, now: datetime) -> Path:
    """Write ``data`` to a new backup file; never replaces an existing one.

    Exclusive creation (``open(..., "xb")``) rather than :func:`~course_utils.cache.atomic_write`,
    which replaces whatever has the name: if another backup appears under the chosen name in the
    meantime, the next free name is taken.
    """
    while True:
        path = _backup_path(directory, name, now)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            return path
        except FileExistsError:
            continue


def _now() -> datetime:
    return datetime.now()


def reset(
    nb: str,
    directory: Path = DEFAULT_WORKSPACE,
    release: Path = DEFAULT_RELEASE,
    now: datetime | None = None,
) -> tuple[Path | None, Path]:
    """Back up the learner's copy of ``nb`` (if any, and if it differs) and copy the release.

    Returns ``(backup path or None, fresh copy)``. The learner's file is replaced only after its
    backup is complete on disk, and a backup never overwrites another.
    """
    directory, release = Path(directory), Path(release)
    names = release_notebooks(release)
    name = resolve_notebook(nb, names)
    source, target = release / name, directory / name
    fresh = source.read_bytes()
    backup = None
    mine = target.read_bytes() if target.exists() else None
    if mine is not None and mine != fresh:
        backup = _save_backup(directory, name, mine, now or _now())
    atomic_write(target, fresh)
    manifest = read_manifest(directory)
    manifest[name] = sha256_hex(fresh)
    write_manifest(directory, manifest)
    return backup, target


# --------------------------------------------------------------------------- student zip


def _zip_members(root: Path) -> list[tuple[str, Path]]:
    """``(name in the zip, file)`` for everything the student zip carries, sorted."""
    members: list[tuple[str, Path]] = []
    release = root / "release"
    names = release_notebooks(release)
    members += [(f"release/{n}", release / n) for n in names]
    for extra in (".release.json", GLOSSARY):
        if (release / extra).is_file():
            members.append((f"release/{extra}", release / extra))
    for folder in ("course_utils", "data"):
        for path in sorted((root / folder).rglob("*")):
            parts = path.relative_to(root).parts
            if not path.is_file() or "__pycache__" in parts or path.suffix == ".pyc":
                continue
            if any(p.startswith(".") or p.endswith(".egg-info") for p in parts):
                continue
            members.append(("/".join(parts), path))
    for name in ZIP_ROOT_FILES:
        if (root / name).is_file():
            members.append((name, root / name))
    return sorted(members)


def build_student_zip(out: Path, root: Path = REPO) -> Path:
    """Write the student zip (release notebooks, course_utils, data, install files) to ``out``.

    The zip unpacks into the folder it is unpacked to (``pyproject.toml`` at its top), holds no
    instructor notebooks, and has the same bytes for the same files (fixed timestamps).
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in _zip_members(Path(root)):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
        info = zipfile.ZipInfo("README_COLAB.md", date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        archive.writestr(info, README_COLAB)
    atomic_write(Path(out), buffer.getvalue())
    return Path(out)


# --------------------------------------------------------------------------- command line


def main(argv: Iterable[str] | None = None) -> int:
    """The command; returns the exit status (0 done, 2 a mistake the message explains)."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.workspace",
        description="The learner's own copies of the course notebooks (workspace/).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def folders(p: argparse.ArgumentParser, solutions: bool = False) -> None:
        p.add_argument("--dir", type=Path, default=DEFAULT_WORKSPACE, help="default workspace/")
        p.add_argument("--release", type=Path, default=DEFAULT_RELEASE, help="default release/")
        if solutions:
            p.add_argument(
                "--solutions",
                type=Path,
                default=DEFAULT_SOLUTIONS,
                help="instructor notebooks copied read-only to DIR/solutions/ (default notebooks/)",
            )

    folders(
        sub.add_parser("sync", help="copy new release notebooks; never touch your edits"),
        solutions=True,
    )
    folders(sub.add_parser("status", help="each notebook: unchanged, edited, new release"))
    reset_parser = sub.add_parser("reset", help="back up your copy of NB and take a fresh one")
    reset_parser.add_argument("nb", metavar="NB", help="06, 06_mnist_shootout or the file name")
    folders(reset_parser)
    zip_parser = sub.add_parser("student-zip", help="build the student zip (Colab, no git)")
    zip_parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "build" / STUDENT_ZIP,
        help=f"default build/{STUDENT_ZIP}",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)

    try:
        if args.command == "sync":
            report = sync(args.dir, args.release, args.solutions)
            for message in report.messages:
                print(message)
            print(report.summary())
        elif args.command == "status":
            rows = status(args.dir, args.release)
            print(f"Workspace {Path(args.dir).resolve()} (release: {Path(args.release).resolve()})")
            width = max((len(n) for n, _ in rows), default=0)
            for name, state in rows:
                print(f"  {name:<{width}}  {state}")
        elif args.command == "reset":
            backup, fresh = reset(args.nb, args.dir, args.release)
            if backup is None:
                print(f"Fresh copy: {fresh.resolve()} (there were no edits of yours to back up)")
            else:
                print(f"Your copy was moved to: {backup.resolve()}")
                print(f"Fresh copy:             {fresh.resolve()}")
            print(
                "If it is open in JupyterLab, close its tab without saving, then open it again "
                "(or File > Reload Notebook from Disk)."
            )
        else:
            out = build_student_zip(args.out)
            with zipfile.ZipFile(out) as archive:
                count = len(archive.namelist())
            print(f"Student zip: {out.resolve()} ({count} files, {out.stat().st_size:,} bytes)")
    except WorkspaceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
