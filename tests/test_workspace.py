"""course_utils.workspace: the learner's copies in workspace/, reset, solutions, the student zip.

Fast and without Keras: small fake notebooks in tmp_path, plus one sync of the real release/.
Also the README's course map conventions (short rows, one per notebook).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from course_utils import cache, workspace

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 12, 7, 16, 30, 0)


def notebook(text: str) -> str:
    """A minimal nbformat-4 notebook holding one markdown cell."""
    cell = {"cell_type": "markdown", "id": "a1", "metadata": {}, "source": [text]}
    content = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(content, indent=1) + "\n"


@pytest.fixture
def course(tmp_path: Path) -> dict[str, Path]:
    """release/ and notebooks/ (instructor) with two notebooks each, and a workspace path."""
    release, solutions = tmp_path / "release", tmp_path / "notebooks"
    for folder, kind in ((release, "student"), (solutions, "instructor")):
        folder.mkdir()
        for name in ("00_setup", "06_mnist_shootout"):
            (folder / f"{name}.ipynb").write_text(notebook(f"{kind} {name} v1"))
    return {"release": release, "solutions": solutions, "dir": tmp_path / "workspace"}


def run_sync(course: dict[str, Path]) -> workspace.SyncReport:
    return workspace.sync(course["dir"], course["release"], course["solutions"])


def cli(course: dict[str, Path], *args: str) -> int:
    return workspace.main([*args, "--dir", str(course["dir"]), "--release", str(course["release"])])


def test_first_sync_copies_every_release_notebook(course):
    report = run_sync(course)
    assert report.copied == ["00_setup.ipynb", "06_mnist_shootout.ipynb"]
    for name in report.copied:
        assert (course["dir"] / name).read_bytes() == (course["release"] / name).read_bytes()
    manifest = json.loads((course["dir"] / workspace.MANIFEST).read_text())
    assert manifest["copied_from_release"] == {
        name: cache.file_digest(course["release"] / name) for name in report.copied
    }
    assert "\n" not in report.summary() and "2 copied" in report.summary()
    assert run_sync(course).unchanged == report.copied  # a second sync changes nothing


def test_learner_edit_survives_a_new_release_and_is_named(course, capsys):
    run_sync(course)
    mine = course["dir"] / "06_mnist_shootout.ipynb"
    mine.write_text(notebook("my answer"))
    (course["release"] / "06_mnist_shootout.ipynb").write_text(notebook("student 06 v2"))

    assert workspace.main(
        ["sync", "--dir", str(course["dir"]), "--release", str(course["release"]),
         "--solutions", str(course["solutions"])]
    ) == 0  # fmt: skip
    assert mine.read_text() == notebook("my answer")
    out = capsys.readouterr().out
    notice = next(line for line in out.splitlines() if "06_mnist_shootout.ipynb" in line)
    assert "new release" in notice.lower()
    assert f"python -m course_utils.workspace reset 06 --dir {course['dir']}" in notice
    assert f"--release {course['release']}" in notice
    assert "1 edited by you" in out.splitlines()[-1]

    # It is named again on the next sync (until reset), and status says so too.
    assert run_sync(course).release_changed == ["06_mnist_shootout.ipynb"]
    states = dict(workspace.status(course["dir"], course["release"]))
    assert states["06_mnist_shootout.ipynb"].startswith("edited by you; new release available")
    assert states["00_setup.ipynb"] == "unchanged"


def test_an_edit_without_a_new_release_is_only_reported_as_edited(course):
    run_sync(course)
    (course["dir"] / "00_setup.ipynb").write_text(notebook("mine"))
    report = run_sync(course)
    assert report.edited == ["00_setup.ipynb"] and report.release_changed == []
    assert report.messages == []
    assert (course["dir"] / "00_setup.ipynb").read_text() == notebook("mine")


def test_unedited_notebook_takes_the_new_release(course):
    run_sync(course)
    (course["release"] / "00_setup.ipynb").write_text(notebook("student 00 v2"))
    assert dict(workspace.status(course["dir"], course["release"]))["00_setup.ipynb"].startswith(
        "new release available"
    )
    report = run_sync(course)
    assert report.updated == ["00_setup.ipynb"] and report.messages == []
    assert (course["dir"] / "00_setup.ipynb").read_text() == notebook("student 00 v2")
    manifest = workspace.read_manifest(course["dir"])
    assert manifest["00_setup.ipynb"] == cache.file_digest(course["release"] / "00_setup.ipynb")


def test_new_release_notebook_is_added_and_a_deleted_one_restored(course):
    run_sync(course)
    (course["release"] / "07_regularization.ipynb").write_text(notebook("student 07"))
    (course["dir"] / "00_setup.ipynb").unlink()
    report = run_sync(course)
    assert report.copied == ["00_setup.ipynb", "07_regularization.ipynb"]
    assert (course["dir"] / "07_regularization.ipynb").read_text() == notebook("student 07")


def test_a_workspace_without_manifest_never_loses_edits(course):
    """A lost or unreadable manifest: whatever differs from the release counts as the learner's."""
    run_sync(course)
    (course["dir"] / "06_mnist_shootout.ipynb").write_text(notebook("mine"))
    (course["dir"] / workspace.MANIFEST).write_text("{not json")
    report = run_sync(course)
    assert report.edited == ["06_mnist_shootout.ipynb"]
    assert (course["dir"] / "06_mnist_shootout.ipynb").read_text() == notebook("mine")


def test_reset_keeps_a_backup_and_never_overwrites_one(course):
    run_sync(course)
    mine = course["dir"] / "06_mnist_shootout.ipynb"
    fresh = (course["release"] / "06_mnist_shootout.ipynb").read_text()
    mine.write_text(notebook("first try"))
    backup, target = workspace.reset("06", course["dir"], course["release"], now=NOW)
    assert backup == course["dir"] / "backups" / "06_mnist_shootout.2026-12-07T16-30-00.ipynb"
    assert backup.read_text() == notebook("first try")
    assert target == mine and mine.read_text() == fresh

    mine.write_text(notebook("second try"))  # same second: the first backup must survive
    second, _ = workspace.reset("06_mnist_shootout", course["dir"], course["release"], now=NOW)
    assert second.name == "06_mnist_shootout.2026-12-07T16-30-00-2.ipynb"
    assert backup.read_text() == notebook("first try")
    assert second.read_text() == notebook("second try")

    # An unedited copy has nothing to back up.
    assert workspace.reset("6", course["dir"], course["release"], now=NOW)[0] is None
    assert {p.name for p in (course["dir"] / "backups").iterdir()} == {backup.name, second.name}
    assert run_sync(course).unchanged == ["00_setup.ipynb", "06_mnist_shootout.ipynb"]


def test_reset_command_prints_both_paths(course, capsys):
    run_sync(course)
    (course["dir"] / "06_mnist_shootout.ipynb").write_text(notebook("mine"))
    assert cli(course, "reset", "06_mnist_shootout.ipynb") == 0
    out = capsys.readouterr().out
    assert str((course["dir"] / "backups").resolve()) in out
    assert str((course["dir"] / "06_mnist_shootout.ipynb").resolve()) in out


NB_06 = [
    "06",
    "6",
    "06_mnist_shootout",
    "06_mnist_shootout.ipynb",
    "workspace/06_mnist_shootout.ipynb",
]


@pytest.mark.parametrize("nb", [*NB_06, "06_mn"])
def test_notebook_names_resolve(nb):
    names = ["00_setup.ipynb", "06_mnist_shootout.ipynb", "07_regularization.ipynb"]
    assert workspace.resolve_notebook(nb, names) == "06_mnist_shootout.ipynb"


@pytest.mark.parametrize(
    ("nb", "says", "lists"),
    [("99", "No course notebook matches '99'", "00_setup"), ("06", "matches several", "06_other")],
)
def test_unknown_or_ambiguous_notebook_is_a_clear_error(course, capsys, nb, says, lists):
    (course["release"] / "06_other.ipynb").write_text(notebook("another 06"))
    assert cli(course, "reset", nb) == 2
    err = capsys.readouterr().err
    assert says in err and lists in err and "NB=" in err
    assert not (course["dir"] / "backups").exists()


def test_missing_release_folder_is_a_clear_error(tmp_path, capsys):
    assert workspace.main(["sync", "--dir", str(tmp_path / "w"), "--release", str(tmp_path)]) == 0
    missing = tmp_path / "nowhere"
    assert workspace.main(["status", "--release", str(missing), "--dir", str(tmp_path)]) == 2
    assert "not a folder of release notebooks" in capsys.readouterr().err


def test_solutions_are_read_only_named_so_and_refreshed(course):
    run_sync(course)
    folder = course["dir"] / workspace.SOLUTIONS_DIR
    copy = folder / "06_mnist_shootout.SOLUTIONS.ipynb"
    assert sorted(p.name for p in folder.iterdir()) == [
        "00_setup.SOLUTIONS.ipynb",
        "06_mnist_shootout.SOLUTIONS.ipynb",
        "README.md",
    ]
    assert "worked solutions" in (folder / "README.md").read_text().lower()
    for path in folder.iterdir():
        assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), path
    assert copy.read_text() == notebook("instructor 06_mnist_shootout v1")

    (course["solutions"] / "06_mnist_shootout.ipynb").write_text(notebook("instructor 06 v2"))
    (course["solutions"] / "00_setup.ipynb").unlink()
    report = run_sync(course)
    assert (report.solutions, report.solutions_written) == (1, 1)
    assert copy.read_text() == notebook("instructor 06 v2")
    assert not copy.stat().st_mode & stat.S_IWUSR
    assert not (folder / "00_setup.SOLUTIONS.ipynb").exists()  # dropped by the course


def test_glossary_is_copied_read_only_and_refreshed(course):
    """GLOSSARY.md is course material: next to the notebooks and the solutions, never edited."""
    (course["release"] / "GLOSSARY.md").write_text("| a | 가 |\n")
    (course["solutions"] / "GLOSSARY.md").write_text("| a | 가 |\n")
    run_sync(course)
    for copy in (course["dir"] / "GLOSSARY.md", course["dir"] / "solutions" / "GLOSSARY.md"):
        assert copy.read_text() == "| a | 가 |\n"
        assert not copy.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), copy
    (course["release"] / "GLOSSARY.md").write_text("| a | 가 |\n| b | 나 |\n")
    report = run_sync(course)
    assert (course["dir"] / "GLOSSARY.md").read_text().endswith("| b | 나 |\n")
    assert report.copied == [] and "GLOSSARY.md" not in report.edited  # not a learner's file


def test_no_instructor_notebooks_no_solutions(course):
    """The student zip has no notebooks/: sync works and says there are no solutions."""
    report = workspace.sync(course["dir"], course["release"], course["dir"].parent / "absent")
    assert report.solutions is None and "no solutions" in report.summary()
    assert not (course["dir"] / workspace.SOLUTIONS_DIR).exists()


def test_manifest_is_written_atomically(course, monkeypatch):
    run_sync(course)
    manifest = course["dir"] / workspace.MANIFEST
    before = manifest.read_bytes()
    (course["release"] / "00_setup.ipynb").write_text(notebook("student 00 v2"))
    real_replace = os.replace

    def interrupted(src, dst):
        if Path(dst).name == workspace.MANIFEST:
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(cache.os, "replace", interrupted)
    with pytest.raises(OSError, match="disk full"):
        run_sync(course)
    assert manifest.read_bytes() == before  # the old manifest, whole
    leftovers = [p.name for p in course["dir"].rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_default_folders_give_the_make_command():
    names = ["00_setup.ipynb", "06_mnist_shootout.ipynb", "06_other.ipynb"]
    default = workspace.reset_command(
        "00_setup.ipynb", workspace.DEFAULT_WORKSPACE, workspace.DEFAULT_RELEASE, names
    )
    assert default == "make reset NB=00"
    ambiguous = workspace.reset_command(
        "06_other.ipynb", workspace.DEFAULT_WORKSPACE, workspace.DEFAULT_RELEASE, names
    )
    assert ambiguous == "make reset NB=06_other"


def test_sync_of_the_real_release_folder(tmp_path):
    report = workspace.sync(tmp_path / "ws", ROOT / "release", ROOT / "notebooks")
    released = sorted(p.name for p in (ROOT / "release").glob("*.ipynb"))
    assert report.copied == released and len(released) >= 14
    assert report.solutions == len(list((ROOT / "notebooks").glob("*.ipynb")))
    for name in [*released, "GLOSSARY.md"]:
        assert (tmp_path / "ws" / name).read_bytes() == (ROOT / "release" / name).read_bytes()
    rows = workspace.status(tmp_path / "ws", ROOT / "release")
    assert {state for _, state in rows} == {"unchanged"}


def test_notebooks_find_data_without_depending_on_the_working_directory(tmp_path, monkeypatch):
    """JupyterLab's kernels run in workspace/: data/ is found next to course_utils, not in cwd."""
    monkeypatch.delenv(cache.DATA_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert cache.data_dir() == ROOT / "data"


# --------------------------------------------------------------------------- student zip


def test_student_zip_unpacks_imports_and_builds(tmp_path):
    out = workspace.build_student_zip(tmp_path / "build" / workspace.STUDENT_ZIP)
    unpacked = tmp_path / "course"
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        archive.extractall(unpacked)
    released = {f"release/{p.name}" for p in (ROOT / "release").glob("*.ipynb")}
    assert released <= names
    assert not any(n.startswith(("notebooks/", "tests/", "drafts/")) for n in names)  # no solutions
    assert {
        "course_utils/__init__.py",
        "course_utils/cache.py",
        "course_utils/workspace.py",
    } <= names
    assert {"data/SHA256SUMS", "pyproject.toml", "requirements.txt", "README_COLAB.md"} <= names
    assert "release/GLOSSARY.md" in names  # the notebooks' glossary links resolve in the zip
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert "pip install -q -e /content/course" in (unpacked / "README_COLAB.md").read_text()
    assert workspace.build_student_zip(tmp_path / "again.zip").read_bytes() == out.read_bytes()

    # `import course_utils` from the unpacked copy, no network, data/ found next to it.
    env = {k: v for k, v in os.environ.items() if k != cache.DATA_DIR_ENV}
    env.update(PYTHONPATH=str(unpacked), COURSE_OFFLINE="1")
    probe = (
        "import course_utils, course_utils.cache as c; "
        "print(course_utils.__file__); print(c.data_dir()); c.data_file.__name__"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    module_file, data_dir = result.stdout.split()
    assert Path(module_file).resolve().is_relative_to(unpacked.resolve())
    assert Path(data_dir).resolve() == (unpacked / "data").resolve()

    # pyproject.toml and its readme are complete enough to build (what `pip install -e` needs).
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "--no-index", "-w", str(tmp_path / "wheel"), str(unpacked)],
        check=True, capture_output=True, timeout=300, env=env,
    )  # fmt: skip
    assert [p.name for p in (tmp_path / "wheel").glob("*.whl")] == [
        "course_utils-0.1.0-py3-none-any.whl"
    ]


# --------------------------------------------------------------------------- README conventions


def _course_map_rows() -> list[tuple[str, str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Course map", 1)[1].split("\n## ", 1)[0]
    return re.findall(
        r"^\|\s*\[`?(\d\d_[a-z0-9_]+\.ipynb)`?\]\([^)]*\)\s*\|(.*)\|\s*$", section, re.MULTILINE
    )


def test_readme_course_map_rows_are_short_and_cover_every_notebook():
    rows = _course_map_rows()
    assert {name for name, _ in rows} >= {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    long = {name: len(text.split()) for name, text in rows if len(text.split()) > 25}
    assert not long, f"course map rows over 25 words: {long}"


def test_readme_first_screen_names_the_workspace_commands():
    top = (ROOT / "README.md").read_text(encoding="utf-8").split("## Course map", 1)[0]
    for needle in ("make lab", "workspace/", "make reset NB=06", "make student-zip", "make test"):
        assert needle in top, needle
