"""The grader under attack: every row of docs/GRADING.md's threat model, as a malicious student.

Each case is a submission of the NumPy fixture (tests/grading_fixtures/numpy_assignment.ipynb,
max 6 points) whose answers are WRONG or blank, plus an attack. The attacks follow what was done
to the previous grader (issue 16): forging the result protocol from an ``exec``-hidden payload,
patching the worker's closures through ``gc``, reading the grader's files and environment through
``/proc``, poison files, killing or stopping the grader, planting results, symlinks, long and
hostile names. One class is graded once with isolation (bubblewrap) required; the tests then
read its rows, feedback and files. Where bubblewrap cannot run, the isolated tests skip, unless
``COURSE_REQUIRE_ISOLATION=1`` (set by ``.ci/run``), which makes them fail instead.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import secrets
import shutil
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
from test_grading import CORRECT, FIXTURE, WRONG

from course_utils.grading import isolation
from course_utils.grading.assignment import load_assignment
from course_utils.grading.gradebook import (
    KEY_FILE,
    display_id,
    file_stem,
    grade_folder,
    hidden_windows,
)
from course_utils.grading.sandbox import Limits

from conftest import ROOT

LIMITS = Limits(cell_timeout=4, total_timeout=60, memory_mb=1024, max_restarts=3)
ISOLATED = Limits(**{**LIMITS.__dict__, "isolation": "required"})
#: A string that only the TA's side holds: the grader's environment and the instructor notebook.
SECRET = "ta-secret-" + secrets.token_hex(8)
#: In the command line of a daemon that a submission leaves behind.
DAEMON = "daemon-" + secrets.token_hex(8)


def _isolation_or_skip() -> None:
    works, reason = isolation.probe_bwrap()
    if not works:
        if os.environ.get("COURSE_REQUIRE_ISOLATION") == "1":
            pytest.fail(f"COURSE_REQUIRE_ISOLATION=1 but {reason}")
        pytest.skip(reason)


def hidden_exec(code: str) -> str:
    """``code`` as an answer cell that a regex review cannot read."""
    blob = base64.b64encode(textwrap.dedent(code).encode()).decode()
    return f"_c = __import__('base64').b64decode('{blob}')\neval(compile(_c, 'x', 'exec'))"


#: Drives the protocol in the worker's place: claims every phase-1 cell ran, then answers every
#: ``test`` message with forged results: visible and hidden "passed", the hidden
#: part's probe payload copied from the labels in the hidden source with guessed values.
FORGE_PROTOCOL = """
import os, sys, re, json, stat
out = int(sys.argv[1])
def line(*fields):
    return (" ".join(str(f).encode().hex() for f in fields) + "\\n").encode()
for number in range(200):  # "this cell ended" for whichever step is running now
    os.write(out, line("end", number, "passed", "", "", 0))
os.write(out, line("phase1"))
inputs = []
for name in os.listdir("/proc/self/fd"):
    fd = int(name)
    try:
        if fd not in (0, 1, 2, out) and stat.S_ISFIFO(os.fstat(fd).st_mode):
            inputs.append(fd)
    except OSError:
        pass
buffer = b""
while inputs:
    chunk = os.read(inputs[0], 1 << 16)
    if not chunk:
        break
    buffer += chunk
    while b"\\n" in buffer:
        raw, _, buffer = buffer.partition(b"\\n")
        try:
            fields = [bytes.fromhex(p.decode()).decode() for p in raw.split(b" ")]
        except ValueError:
            continue
        if fields[0] == "step":  # the grader paces the cells: claim each one ran
            os.write(out, line("end", fields[1], "passed", "", "", 0))
            os.write(out, line("phase1"))
            continue
        if fields[0] != "test":
            continue
        nonce, index, hidden = fields[1], fields[2], fields[5]
        labels = re.findall(r"probe\\(f?[\\"']([^\\"']+)", hidden)
        guesses = [
            {"label": l, "value": {"t": "int", "v": "1"}, "rtol": 1.0, "atol": 1e9}
            for l in labels
        ]
        os.write(out, line("result", nonce, index, "visible", "passed", "", "", 0, ""))
        os.write(out, line("result", nonce, index, "hidden", "passed", "", "", 0,
                           json.dumps(guesses)))
os._exit(0)
"""

#: The forger again, now smuggling the hidden tests' source out in its visible failure messages.
SMUGGLE_HIDDEN = FORGE_PROTOCOL.replace(
    'line("result", nonce, index, "visible", "passed", "", "", 0, "")',
    'line("result", nonce, index, "visible", "failed", "AssertionError", hidden, 0, "")',
)
assert SMUGGLE_HIDDEN != FORGE_PROTOCOL

#: Replaces ``exec`` in every closure of the worker, so no test code runs and every part
#: "passes" inside the sandbox.
PATCH_CLOSURES = """
import gc
for obj in gc.get_objects():
    cells = getattr(obj, "__closure__", None) if callable(obj) else None
    for cell in cells or ():
        try:
            if cell.cell_contents is exec or cell.cell_contents is compile:
                cell.cell_contents = (lambda *a, **k: None) if cell.cell_contents is exec else (
                    lambda *a, **k: compile("pass", "x", "exec"))
        except ValueError:
            pass
"""


def leak_code() -> str:
    """Everything a worker could find of the TA's: environment, parent's /proc, files that hold
    the secret; the loot goes out through every channel a student controls."""
    return f"""
import os, sys
loot = [repr(dict(os.environ))]
for pid in [os.getppid(), 1] + [int(p) for p in os.listdir('/proc') if p.isdigit()][:50]:
    for what in ('environ', 'cmdline'):
        try:
            loot.append(open(f'/proc/{{pid}}/{{what}}', 'rb').read().decode('latin-1'))
        except OSError:
            pass
    try:
        loot.append(' '.join(os.listdir(f'/proc/{{pid}}/cwd')))
    except OSError:
        pass
for top in ('/tmp', '/root', '/home', '/work', {str(ROOT)!r}):
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in ('.venv', 'site-packages', '.git')]
        for name in files:
            if name.endswith(('.ipynb', '.json', '.csv', '.md', '{KEY_FILE}')):
                try:
                    loot.append(open(os.path.join(root, name), 'rb').read(200000).decode('latin-1'))
                except OSError:
                    pass
text = '\\n'.join(loot)
print(text[:100000])
found = [line for line in text.splitlines() if {SECRET!r} in line or 'BEGIN SOLUTION' in line]
message = ' | '.join(found)[:5000] or 'nothing found'
def column_means(x):
    raise AssertionError(message)
"""


def notebook(assignment, answers: dict[str, str], extra: str = "") -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(assignment.released)))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    if extra:
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == "ex1-solution":
                cell.source = cell.source + "\n" + extra
    return nb


def class_of(assignment, folder: Path, out: Path) -> dict[str, object]:
    """The attacking class: name -> notebook, raw bytes, or a callable that makes the entry."""
    wrong_ex3 = {**WRONG, "ex3-solution": "def count_positive(x):\n    return 0"}
    exit_after = {
        **CORRECT,
        "ex2-solution": CORRECT["ex2-solution"] + "\nimport sys\nsys.exit(0)",
    }
    daemon = f"""
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, '-c',
                 'import time; time.sleep(120)  # {DAEMON}'])
    os._exit(0)
time.sleep(0.5)
"""
    write_out = f"""
import os, json
for root in ({str(out)!r}, {str(out / "results")!r}, {str(out / "feedback")!r}):
    try:
        for name in os.listdir(root):
            with open(os.path.join(root, name), 'w') as f:
                f.write('tampered')
    except OSError:
        pass
    try:
        with open(os.path.join(root, 'gradebook.csv'), 'w') as f:
            f.write('student,total\\nattacker,6\\n')
    except OSError:
        pass
"""
    forge_begin = """
import os, sys, time, signal
signal.signal(signal.SIGALRM, signal.SIG_IGN)
out = int(sys.argv[1])
def line(*fields):
    return (" ".join(str(f).encode().hex() for f in fields) + "\\n").encode()
while True:
    for number in range(40):
        os.write(out, line("begin", number))
    time.sleep(0.2)
"""
    notes = """
import os, sys
out = int(sys.argv[1])
def line(*fields):
    return (" ".join(str(f).encode().hex() for f in fields) + "\\n").encode()
for _ in range(100):
    os.write(out, line("note", 1, "x" * 1_000_000))
"""
    int_cheat = """
class Anything(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__
def count_positive(x):
    return Anything(0)
"""
    array_cheat = """
class Agreeable(np.ndarray):
    def __array_function__(self, func, types, args, kwargs):
        return True
    def __eq__(self, other):
        return np.ones(3, bool)
def column_means(x):
    return np.zeros(np.shape(x)[1]).view(Agreeable)
"""
    return {
        "honest": notebook(assignment, CORRECT),
        "blank": notebook(assignment, {}),
        "wrong": notebook(assignment, WRONG),
        "forged_protocol": notebook(assignment, WRONG, hidden_exec(FORGE_PROTOCOL)),
        "forged_protocol_blank": notebook(assignment, {}, hidden_exec(FORGE_PROTOCOL)),
        "smuggler": notebook(assignment, WRONG, hidden_exec(SMUGGLE_HIDDEN)),
        "patched_closures": notebook(assignment, WRONG, hidden_exec(PATCH_CLOSURES)),
        "leaker": notebook(assignment, {**WRONG, "ex1-solution": hidden_exec(leak_code())}),
        "deep_json": b"[" * 100_000 + b"]" * 100_000,
        "deep_sum": notebook(
            assignment,
            {**WRONG, "ex3-solution": "x = " + " + ".join(["1"] * 200_000)},
        ),
        "n" * 240: notebook(assignment, CORRECT),
        "kills_parent": notebook(
            assignment, WRONG, "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"
        ),
        "stops_parent": notebook(
            assignment, WRONG, "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)"
        ),
        "kills_all": notebook(assignment, WRONG, "import os\nos.kill(-1, 9)"),
        "writes_out": notebook(assignment, WRONG, write_out),
        "daemon": notebook(assignment, WRONG, daemon),
        "forges_begin": notebook(assignment, {**CORRECT, "ex2-solution": forge_begin}),
        "notes_flood": notebook(assignment, WRONG, hidden_exec(notes)),
        "int_cheat": notebook(assignment, {**CORRECT, "ex3-solution": int_cheat}),
        "array_cheat": notebook(assignment, {**CORRECT, "ex1-solution": array_cheat}),
        "exits": notebook(assignment, exit_after),
        "esc\x1b[2J\x1b[31mred\u202e": notebook(assignment, CORRECT),
        "=HYPERLINK(1)": notebook(assignment, CORRECT),
        ".hidden": notebook(assignment, CORRECT),
        "prints_then_hangs": notebook(
            assignment,
            {
                **CORRECT,
                "ex3-solution": "print('marker-before-hang', flush=False)\nwhile True:\n    pass",
            },
        ),
        "wrong_ex3": notebook(assignment, wrong_ex3),
    }


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    _isolation_or_skip()
    base = tmp_path_factory.mktemp("attacks")
    assignment_dir = base / "instructor"
    assignment_dir.mkdir()
    nb = nbformat.read(FIXTURE, as_version=4)
    nb.cells[5].source = nb.cells[5].source.replace(
        "### BEGIN SOLUTION", f"### BEGIN SOLUTION\n    # {SECRET}"
    )
    nbformat.write(nb, assignment_dir / "numpy_assignment.ipynb")
    assignment = load_assignment(assignment_dir / "numpy_assignment.ipynb")
    folder, out = base / "subs", base / "grades"
    folder.mkdir()
    for name, content in class_of(assignment, folder, out).items():
        path = folder / f"{name}.ipynb"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            nbformat.write(content, path)
    (folder / "link_to_instructor.ipynb").symlink_to(assignment_dir / "numpy_assignment.ipynb")
    (folder / "link_folder").symlink_to(assignment_dir, target_is_directory=True)
    os.environ["TA_TOKEN"] = SECRET
    lines: list[str] = []
    start = time.monotonic()
    try:
        results = grade_folder(
            assignment, folder, out, jobs=2, limits=ISOLATED, progress=lines.append
        )
    finally:
        os.environ.pop("TA_TOKEN", None)
    return {
        "assignment": assignment,
        "folder": folder,
        "out": out,
        "results": {r["student"]: r for r in results},
        "lines": lines,
        "seconds": time.monotonic() - start,
    }


def score(attacked, student: str) -> float:
    return attacked["results"][display_id(student)]["score"]


def test_controls_score_as_expected(attacked):
    assert [score(attacked, s) for s in ("honest", "blank", "wrong")] == [6, 0, 0]
    assert all(
        r["isolation"].startswith("bubblewrap")
        for r in attacked["results"].values()
        if r["status"] == "graded"
    )


@pytest.mark.parametrize(
    "student", ["forged_protocol", "forged_protocol_blank", "patched_closures"]
)
def test_forged_protocol_and_patched_harness_earn_nothing(attacked, student):
    result = attacked["results"][student]
    # the attack works inside the sandbox: every visible part claims to pass ...
    assert [t["visible"]["status"] for t in result["tests"]] == ["passed"] * 3
    # ... and earns nothing: the probes are compared with the reference outside the sandbox
    assert result["score"] == 0, result["tests"]
    assert result["status"] == "graded"


def test_nothing_of_the_tas_reaches_feedback_results_or_gradebook(attacked):
    assert "withheld" in (attacked["out"] / "feedback" / "smuggler.md").read_text()
    result = attacked["results"]["leaker"]
    assert result["score"] == 0
    windows = hidden_windows(attacked["assignment"])
    assert len(windows) > 100
    for path in attacked["out"].rglob("*"):
        if path.is_file() and path.name != KEY_FILE:
            text = path.read_text(errors="replace")
            assert SECRET not in text, path
            assert "BEGIN SOLUTION" not in text, path
            if path.suffix == ".md":
                quoted = [w for w in windows if w in text]
                assert not quoted, (path, quoted[:3])
    # the worker looked everywhere it could and found nothing of the TA's
    assert "nothing found" in result["tests"][0]["visible"]["message"], result["tests"][0]


@pytest.mark.parametrize(
    "student, reason",
    [
        ("deep_json", "could not be read"),
        ("deep_sum", "could not be read"),
        ("link_to_instructor", "symbolic link"),
        ("link_folder", "symbolic link"),
        (".hidden", "hidden file"),
    ],
)
def test_poison_and_links_become_rejected_rows(attacked, student, reason):
    result = attacked["results"][display_id(student)]
    assert result["status"] == "rejected" and result["score"] == 0
    assert reason in result["reason"], result["reason"]


@pytest.mark.parametrize("student", ["kills_parent", "stops_parent", "kills_all"])
def test_signals_cannot_reach_the_grader(attacked, student):
    assert attacked["results"][student]["status"] == "graded"
    assert attacked["results"][student]["score"] == 0
    assert score(attacked, "honest") == 6  # and grading went on for everyone


def test_every_submission_has_a_row_and_the_run_finished(attacked):
    with open(attacked["out"] / "gradebook.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = {display_id(s) for s in class_of(attacked["assignment"], Path(), Path())}
    expected |= {"link_to_instructor", "link_folder"}
    assert {r["student"].lstrip("'") for r in rows} == expected
    assert all(r["isolated"] in ("yes", "") for r in rows)


def test_long_and_hostile_names_are_made_safe(attacked):
    long_id = display_id("n" * 240)
    assert attacked["results"][long_id]["score"] == 6 and len(long_id) <= 80
    hostile = display_id("esc\x1b[2J\x1b[31mred\u202e")
    assert "\x1b" not in hostile and "\u202e" not in hostile
    assert attacked["results"][hostile]["score"] == 6
    everything = "".join(attacked["lines"]) + (attacked["out"] / "gradebook.csv").read_text()
    assert "\x1b" not in everything and "\u202e" not in everything
    assert "'=HYPERLINK(1)" in (attacked["out"] / "gradebook.csv").read_text()
    for path in (attacked["out"] / "results").iterdir():
        assert len(path.name) <= 100 and not path.name.startswith(".")


def test_the_output_folder_is_out_of_reach(attacked):
    assert attacked["results"]["writes_out"]["score"] == 0
    for path in attacked["out"].rglob("*"):
        if path.is_file():
            assert path.read_bytes() != b"tampered", path
    with open(attacked["out"] / "gradebook.csv", newline="") as handle:
        assert "attacker" not in handle.read()


def test_no_process_outlives_the_grading(attacked):
    alive = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if DAEMON in (proc / "cmdline").read_bytes().decode(errors="replace"):
                alive.append(proc.name)
        except OSError:
            pass
    assert not alive


def test_planted_or_edited_results_are_graded_again(attacked, tmp_path):
    out = tmp_path / "grades"
    shutil.copytree(attacked["out"], out)
    friend = out / "results" / "blank.json"
    forged = json.loads(friend.read_text())
    forged["score"] = 6.0
    for test in forged["tests"]:
        test["points"], test["passed"] = test["max_points"], True
    friend.write_text(json.dumps(forged))
    victim = out / "results" / "honest.json"
    edited = json.loads(victim.read_text())
    edited["score"] = 0.0
    for test in edited["tests"]:
        test["points"] = 0.0
    victim.write_text(json.dumps(edited))
    folder = tmp_path / "subs"
    folder.mkdir()
    for name in ("blank", "honest"):
        shutil.copy(attacked["folder"] / f"{name}.ipynb", folder)
    lines: list[str] = []
    results = grade_folder(
        attacked["assignment"], folder, out, jobs=2, limits=ISOLATED, progress=lines.append
    )
    assert {r["student"]: r["score"] for r in results} == {"blank": 0, "honest": 6}
    assert not any("reused" in line for line in lines), "forged entries must not be reused"


def test_poison_rows_are_cached_and_stray_files_reported(attacked, tmp_path):
    out = tmp_path / "grades"
    shutil.copytree(attacked["out"], out)
    folder = tmp_path / "subs"
    folder.mkdir()
    for name in ("deep_json", "deep_sum"):
        shutil.copy(attacked["folder"] / f"{name}.ipynb", folder)
    (folder / "notes.txt").write_text("not a notebook")
    lines: list[str] = []
    results = grade_folder(
        attacked["assignment"], folder, out, jobs=2, limits=ISOLATED, progress=lines.append
    )
    assert [r["status"] for r in results] == ["rejected", "rejected"]
    assert any("2 result(s) reused" in line for line in lines), lines
    assert any("ignored 1 file(s) that are not notebooks: notes.txt" in line for line in lines)


def test_a_run_stopped_before_its_first_result_can_be_resumed(tmp_path):
    assignment = load_assignment(FIXTURE)
    folder, out = tmp_path / "subs", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    (out / KEY_FILE).write_bytes(secrets.token_bytes(32))  # all that the stopped run left
    nbformat.write(notebook(assignment, CORRECT), folder / "alice.ipynb")
    results = grade_folder(assignment, folder, out, limits=LIMITS, progress=lambda line: None)
    assert results[0]["score"] == 6


def test_forged_begin_messages_do_not_extend_the_cell_limit(attacked):
    result = attacked["results"]["forges_begin"]
    answer = {a["grade_id"]: a for a in result["answers"]}["ex2-solution"]
    assert answer["status"] == "timeout", answer
    assert result["score"] == 4  # ex1 and ex3 still graded: 1 + 3


def test_notes_and_output_are_bounded(attacked):
    result = attacked["results"]["notes_flood"]
    assert len(result["notes"]) <= 25
    assert len(json.dumps(result)) < 100_000
    stem = file_stem("notes_flood")
    assert (attacked["out"] / "feedback" / f"{stem}.md").stat().st_size < 20_000


def test_subclasses_that_fake_equality_score_nothing(attacked):
    tests = {t["grade_id"]: t for t in attacked["results"]["int_cheat"]["tests"]}
    assert tests["ex3-tests"]["points"] == 0 and tests["ex1-tests"]["points"] == 1
    tests = {t["grade_id"]: t for t in attacked["results"]["array_cheat"]["tests"]}
    assert tests["ex1-tests"]["points"] == 0 and tests["ex3-tests"]["points"] == 3


def test_sys_exit_after_a_correct_answer(attacked):
    """docs/GRADING.md: as in Jupyter, ``sys.exit`` in a cell raises SystemExit, which is reported
    for that cell; what the cell defined before it stays, so a correct answer keeps its points."""
    result = attacked["results"]["exits"]
    assert {t["grade_id"]: t["points"] for t in result["tests"]} == {
        "ex1-tests": 1,
        "ex2-tests": 2,
        "ex3-tests": 3,
    }
    answer = {a["grade_id"]: a for a in result["answers"]}["ex2-solution"]
    assert answer["outcome"]["error_type"] == "SystemExit", answer


def test_the_log_tail_keeps_what_a_killed_worker_printed(attacked):
    assert "marker-before-hang" in attacked["results"]["prints_then_hangs"]["log_tail"]


def test_unisolated_grading_is_flagged(tmp_path):
    assignment = load_assignment(FIXTURE)
    folder = tmp_path / "subs"
    folder.mkdir()
    nbformat.write(notebook(assignment, CORRECT), folder / "alice.ipynb")
    lines: list[str] = []
    limits = Limits(**{**LIMITS.__dict__, "isolation": "off"})
    results = grade_folder(
        assignment, folder, tmp_path / "out", limits=limits, progress=lines.append
    )
    assert results[0]["score"] == 6 and results[0]["isolation"].startswith("none")
    assert any("WITHOUT isolation" in line for line in lines)
    assert any("WITHOUT isolation" in note for note in results[0]["notes"])
    with open(tmp_path / "out" / "gradebook.csv", newline="") as handle:
        assert next(csv.DictReader(handle))["isolated"] == "NO"


def test_required_isolation_that_cannot_be_had_stops_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(isolation, "probe_bwrap", lambda: (False, "bubblewrap is not installed"))
    with pytest.raises(isolation.IsolationUnavailable, match="apt-get install bubblewrap|Install"):
        isolation.resolve("required")
    assert isolation.resolve("auto") == (False, "none: bubblewrap is not installed")
